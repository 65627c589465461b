"""The LocalStack init script is generated from template.yaml and kept in step with it."""

from pathlib import Path

from recsys.local.localstack import render_init_script
from recsys.local.provision import load_template

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "localstack" / "init" / "ready.d" / "10-recsys.sh"


def test_the_committed_init_script_matches_the_template() -> None:
    # GIVEN the init script LocalStack runs, and the template
    # WHEN the script is rendered again from the template
    fresh = render_init_script()
    # THEN the committed copy is identical (regenerate with `python -m recsys.local.localstack`)
    assert SCRIPT.read_text() == fresh


def test_the_script_creates_every_queue_table_and_bucket_with_their_properties() -> None:
    # GIVEN the template's resources and the rendered script
    resources = load_template()["Resources"]
    script = render_init_script()
    # THEN each queue is created with its visibility timeout and DLQ redrive
    for logical_id, res in resources.items():
        if res["Type"] == "AWS::SQS::Queue":
            assert f"--queue-name local-{logical_id} " in script
            visibility = res.get("Properties", {}).get("VisibilityTimeout")
            if visibility is not None:
                assert f'"VisibilityTimeout":"{visibility}"' in script
    assert '\\"maxReceiveCount\\":3' in script
    # AND the table with its keys and TTL, and the bucket under the runtime's name
    assert "create-table --table-name local-EventsTable" in script
    assert '"AttributeName":"expires_at","Enabled":true' in script
    assert "create-bucket --bucket local-catalogbucket" in script
