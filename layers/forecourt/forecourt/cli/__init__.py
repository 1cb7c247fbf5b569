"""The ``forecourt`` command line: one entry point, a verb per task, ``--help`` everywhere."""

from __future__ import annotations

import os

import click

from forecourt.cli import (
    audiences,
    compact,
    conversions,
    data,
    dealer_secrets,
    dealers,
    enrich,
    identity,
    local,
    operations,
    privacy,
    report,
    senders,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="forecourt")
@click.option(
    "--stack",
    "stack_name",
    envvar="FORECOURT_STACK",
    metavar="NAME",
    help="Work on the deployed CloudFormation stack NAME with your AWS credentials (AWS_PROFILE, "
    "AWS_REGION) instead of the local stack. Env: FORECOURT_STACK.",
)
def main(stack_name: str | None) -> None:
    """Forecourt: dealer and OEM data in, one shared lake out.

    Start the local stack with `forecourt local up` (or just run `forecourt demo`), register a
    dealer with `forecourt dealers add` and a webhook sender with `forecourt senders add`, send
    files with `forecourt ingest`, and query the tables with Athena SQL through `forecourt query`.
    With `--stack NAME` the same verbs work on a stack deployed with `sam deploy`.
    """
    if stack_name:
        os.environ["FORECOURT_STACK"] = stack_name


main.add_command(local.local)
main.add_command(local.demo)
main.add_command(dealers.dealers)
dealers.dealers.add_command(dealer_secrets.dealers_rotate_secret)
main.add_command(senders.senders)
main.add_command(data.ingest)
main.add_command(data.feeds_cmd)
main.add_command(data.query)
main.add_command(data.catalog_cmd)
data.catalog_cmd.add_command(compact.catalog_compact)
main.add_command(data.schemas_cmd)
main.add_command(operations.uploads)
main.add_command(operations.queues)
main.add_command(data.timings_cmd)
main.add_command(identity.identity)
main.add_command(enrich.enrich)
main.add_command(audiences.audiences)
main.add_command(conversions.conversions)
main.add_command(privacy.privacy)
main.add_command(report.report_cmd)
