"""``profiler customer ID``: one customer's profile in plain words, for customer service."""

from __future__ import annotations

import json

import click

from workbook.cli.options import car_option, output_options
from workbook.cli.output import print_csv, print_table


@click.command(
    "customer",
    short_help="one customer's profile in plain words (segment, orders, consent, service)",
    epilog="""\b
Example:
  profiler customer 1042 --car car/
  profiler customer 1042 --json
  profiler customer 1042 --personal-data     # name, e-mail, phone where consent allows""",
)
@click.argument("customer_id")
@car_option
@click.option(
    "--personal-data",
    "personal",
    is_flag=True,
    help="also show the name, e-mail and phone, only where the customer's consent allows "
    "contact and the CAR folder holds the consented contact table",
)
@output_options(json=True)
def customer(customer_id: str, car: str | None, personal: bool, csv: bool, json: bool) -> int:
    """Show CUSTOMER_ID's profile from the CAR.

    Strategy segment, lifecycle stage, value tier and potential (CLV), recent orders,
    preferences and consent, last survey and service topics, each with the CAR column it comes
    from; values that hold at the CAR's date say "as of D". No personal data is shown unless
    --personal-data is given.
    """
    from profiler.cells import engine_for
    from profiler.customer import customer_profile

    profile = customer_profile(engine_for(car), customer_id, personal=personal)
    if json:
        click.echo(_json(profile.as_json()))
        return 0
    if csv:
        print_csv(profile.rows)
        return 0
    print(f"Customer {profile.customer_id}, CAR as of {profile.as_of:%Y-%m-%d}")
    shown = profile.rows[["section", "item", "text", "when", "column"]].copy()
    shown["section"] = shown["section"].where(shown["section"] != shown["section"].shift(), "")
    print_table(
        shown,
        headers={
            "section": "Section",
            "item": "Item",
            "text": "Value",
            "when": "When",
            "column": "CAR column",
        },
    )
    for note in profile.notes:
        print(f"Note: {note}")
    print("Definitions: 'profiler customer ID --csv' or the CAR's car_dictionary.csv.")
    return 0


def _json(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)
