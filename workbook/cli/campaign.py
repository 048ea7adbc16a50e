"""``profiler campaign``: the campaign register (add, list) and a campaign's measured uplift."""

from __future__ import annotations

import json as _json
import math
import os
import sys

import click

from workbook.cli.options import CHANNELS, DAY, Name, output_options
from workbook.cli.output import print_csv, print_table


def _data(data: str | None) -> str:
    from profiler.errors import ProfilerError

    folder = data or os.environ.get("PROFILER_DATA")
    if not folder:
        raise ProfilerError(
            "No data folder given: pass --data DIR (the folder of source tables) or set "
            "PROFILER_DATA."
        )
    return folder


DATA_HELP = "folder of source tables holding campaigns.csv (default: $PROFILER_DATA)"


@click.group(
    "campaign",
    short_help="record campaigns with a control group and measure their uplift",
    epilog="""\b
Example:
  profiler campaign add --name "Spring reactivation" --audience spring.csv --channel email \\
      --sent 2026-03-02 --cost 1500 --data data/
  profiler campaign report "Spring reactivation" --window 30d --data data/
  (spring.csv from: profiler audience COHORT --channel email --control 10% --out spring.csv)""",
)
def campaign() -> None:
    """The campaign register (DATA/campaigns.csv) and what each campaign caused: the treated
    customers' response against the random control group's (docs/campaigns.md)."""


@campaign.command(
    "add",
    short_help="record a sent campaign's treated and control customers",
    epilog="""\b
Example:
  profiler campaign add --name "Spring reactivation" --audience spring.csv --channel email \\
      --sent 2026-03-02 --cost 1500 --data data/""",
)
@click.option("--name", required=True, help="the campaign's name (unique, any letter case)")
@click.option(
    "--audience",
    required=True,
    metavar="FILE",
    help="FILE.csv written by 'profiler audience --control' (FILE.control.csv and FILE.json "
    "beside it)",
)
@click.option(
    "--channel",
    type=Name(CHANNELS, "channel"),
    required=True,
    help="the channel it was sent on: the audience's consent channel",
)
@click.option("--sent", type=DAY, required=True, help="the day it was sent")
@click.option("--cost", default="0", show_default=True, help="the campaign's whole cost in GBP")
@click.option("--data", metavar="DIR", help=DATA_HELP)
def add(name: str, audience: str, channel: str, sent: object, cost: str, data: str | None) -> int:
    """Append a campaign's customers to the register: the treated ones (FILE.csv, contacted) and
    the control ones (FILE.control.csv, held out), with the split's seed (FILE.json)."""
    from profiler.campaigns import add_campaign

    folder = _data(data)
    rows = add_campaign(folder, name, audience, channel, sent, cost)
    treated = int((rows["group"] == "treated").sum())
    print(
        f"Campaign '{rows['campaign'].iloc[0]}' ({channel}, sent {rows['sent_at'].iloc[0]}): "
        f"{treated:,} treated and {len(rows) - treated:,} control customers added to "
        f"{os.path.join(folder, 'campaigns.csv')}"
    )
    return 0


@campaign.command(
    "list",
    short_help="the campaigns in the register",
    epilog="""\b
Example:
  profiler campaign list --data data/""",
)
@click.option("--data", metavar="DIR", help=DATA_HELP)
@output_options(csv=True, json=True)
def list_(data: str | None, csv: bool, json: bool) -> int:
    """Every campaign of the register, in the order added: channel, send day, cost and the
    customers in each group."""
    from profiler.campaigns import campaign_list

    frame = campaign_list(_data(data))
    if json:
        print(_json.dumps(frame.to_dict(orient="records")))
    elif csv:
        print_csv(frame)
    elif frame.empty:
        print("No campaigns yet: add one with 'profiler campaign add'.")
    else:
        print_table(frame)
    return 0


@campaign.command(
    "report",
    short_help="a campaign's measured response and uplift",
    epilog="""\b
Example:
  profiler campaign report "Spring reactivation" --window 30d --data data/
  profiler campaign report "Spring reactivation" --data data/ --json""",
)
@click.argument("name")
@click.option(
    "--window",
    default="30d",
    show_default=True,
    metavar="DAYS",
    help="orders on days sent <= day < sent + DAYS count as responses (30d or 30)",
)
@click.option("--data", metavar="DIR", help=DATA_HELP)
@output_options(csv=True, json=True)
def report(name: str, window: str, data: str | None, csv: bool, json: bool) -> int:
    """NAME's treated and control groups side by side over the window after the send:
    customers, responders, response rate, orders and spend per customer; the uplift in
    response rate (95% Wald interval), in spend per customer (Welch), the incremental revenue
    and the ROI. Orders are the kept lines (net of returns and cancellations) of the data
    folder, read through the same rules as a build."""
    from profiler.campaigns import SMALL_GROUP, campaign_report, parse_window

    result = campaign_report(_data(data), name, parse_window(window))
    row = result.row()
    if json:
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        print(_json.dumps(clean))
        return 0
    if csv:
        import pandas as pd

        print_csv(pd.DataFrame([row]))
        return 0
    f = result.measured.figures
    print(result.title)
    groups = result.measured.groups.rename(
        columns={"response_rate": "response rate", "spend_per_customer": "spend per customer"}
    )
    groups["response rate"] = [_pct(v) for v in groups["response rate"]]
    small = (groups["customers"] < SMALL_GROUP).to_numpy()
    print_table(
        groups,
        flags={c: small for c in ("responders", "response rate", "orders", "spend per customer")},
        min_size=SMALL_GROUP,
    )
    print(
        f"Uplift in response rate: {_pp(f['uplift'])} "
        f"(95% CI {_pp(f['uplift_low'])} to {_pp(f['uplift_high'])}; Wald)"
    )
    print(
        f"Uplift in spend per customer: {_gbp(f['spend_uplift'])} "
        f"(95% CI {_gbp(f['spend_uplift_low'])} to {_gbp(f['spend_uplift_high'])}; Welch)"
    )
    print(
        f"Incremental revenue: {_gbp(f['incremental_revenue'])} "
        f"(95% CI {_gbp(f['incremental_revenue_low'])} to "
        f"{_gbp(f['incremental_revenue_high'])}) over {f['treated_customers']:,} treated"
    )
    if f["cost"] > 0:
        print(
            f"ROI: {_pct(f['roi'])} on a cost of {_gbp(f['cost'])} "
            f"(95% CI {_pct(f['roi_low'])} to {_pct(f['roi_high'])})"
        )
    else:
        print("ROI: not computed (no cost recorded)")
    for note in result.measured.notes:
        print(f"Note: {note}", file=sys.stderr)
    return 0


def _pct(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.1%}"


def _pp(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 100:+.1f} pp"


def _gbp(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"-£{-value:,.2f}" if value < 0 else f"£{value:,.2f}"
