#!/usr/bin/env bash
# GENERATED from template.yaml by `python -m recsys.local.localstack` — do not edit by hand.
# Runs inside the LocalStack container once it is ready (mounted at /etc/localstack/init/ready.d):
# creates the queues, DLQs, event table and catalog bucket with template.yaml's properties and
# the names the local runtime uses (local-<LogicalId>), so `recsys up` pointed at LocalStack
# (RECSYS_AWS_ENDPOINT_URL=http://localhost:4566) finds them.
set -euo pipefail
REGION="${AWS_DEFAULT_REGION:-us-east-1}"
ACCOUNT="000000000000"

awslocal sqs create-queue --queue-name local-EmbedDLQ --attributes '{"MessageRetentionPeriod":"1209600"}'
awslocal sqs create-queue --queue-name local-ProfileDLQ --attributes '{"MessageRetentionPeriod":"1209600"}'
awslocal sqs create-queue --queue-name local-ArchiveDLQ --attributes '{"MessageRetentionPeriod":"1209600"}'
awslocal sqs create-queue --queue-name local-EmbedQueue --attributes '{"VisibilityTimeout":"360","RedrivePolicy":"{\"deadLetterTargetArn\":\"'"arn:aws:sqs:${REGION}:${ACCOUNT}:local-EmbedDLQ"'\",\"maxReceiveCount\":3}"}'
awslocal sqs create-queue --queue-name local-ProfileQueue --attributes '{"VisibilityTimeout":"1800","RedrivePolicy":"{\"deadLetterTargetArn\":\"'"arn:aws:sqs:${REGION}:${ACCOUNT}:local-ProfileDLQ"'\",\"maxReceiveCount\":3}"}'
awslocal dynamodb describe-table --table-name local-EventsTable >/dev/null 2>&1 || awslocal dynamodb create-table --table-name local-EventsTable --attribute-definitions '[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"S"}]' --key-schema '[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}]' --billing-mode PAY_PER_REQUEST
awslocal dynamodb update-time-to-live --table-name local-EventsTable --time-to-live-specification '{"AttributeName":"expires_at","Enabled":true}' >/dev/null
awslocal dynamodb describe-table --table-name local-StatsTable >/dev/null 2>&1 || awslocal dynamodb create-table --table-name local-StatsTable --attribute-definitions '[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"S"}]' --key-schema '[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}]' --billing-mode PAY_PER_REQUEST
awslocal dynamodb update-time-to-live --table-name local-StatsTable --time-to-live-specification '{"AttributeName":"expires_at","Enabled":true}' >/dev/null
awslocal s3api head-bucket --bucket local-catalogbucket 2>/dev/null || awslocal s3api create-bucket --bucket local-catalogbucket
awslocal s3api head-bucket --bucket local-archivebucket 2>/dev/null || awslocal s3api create-bucket --bucket local-archivebucket
awslocal s3api head-bucket --bucket local-athenaresultsbucket 2>/dev/null || awslocal s3api create-bucket --bucket local-athenaresultsbucket
echo "recsys: queues, table and bucket ready"
