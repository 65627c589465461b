"""What every layer of the package stands on: settings, the error tree, AWS clients, SQS sending
and the shared types. Imports nothing else of the package."""
