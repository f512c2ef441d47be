"""Catalog entries of the transfer-anomaly model (one ownership change, scored at its cut-off)."""

import math

from perfml.catalog import Feature, Lang, format_value, register

MODEL = "transfer-anomaly"
# Every feature reads the transfer itself and its cut-off (the customer's next order); `tables`
# adds what else it reads, so a dataset that does not track a table trains without its features.
UNIT = ("ownership_changes", "orders")

register(
    # -- the giver's effort before the change --------------------------------------------------
    Feature(
        "giver_owned_days",
        "Days the giver owned the customer",
        "转出人持有客户天数",
        "days",
        "Days from the change that gave the customer to the giver until this change (unknown when the "
        "giver's ownership predates the data).",
        "giver owned the customer for {value}",
        "转出人已持有该客户{value}",
        tables=UNIT,
    ),
    Feature(
        "giver_worked_days",
        "Days the giver worked the customer",
        "转出人跟进客户天数",
        "days",
        "Days from the giver's first activity on the customer to the change.",
        "giver had worked the customer for {value}",
        "转出人已跟进该客户{value}",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "giver_acts_30d",
        "Giver activities on customer, last 30 days",
        "转出人近30天跟进次数",
        "count",
        "The giver's activities on this customer in the 30 days before the change.",
        "giver logged {value} activities on the customer in the 30 days before",
        "转出人转出前30天跟进{value}次",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "giver_acts_90d",
        "Giver activities on customer, last 90 days",
        "转出人近90天跟进次数",
        "count",
        "The giver's activities on this customer in the 90 days before the change.",
        "giver logged {value} activities on the customer in the 90 days before",
        "转出人转出前90天跟进{value}次",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "giver_days_since_touch",
        "Days since the giver's last touch",
        "转出人最近跟进距今天数",
        "days",
        "Days from the giver's last activity on the customer to the change (unknown if never).",
        "giver last touched the customer {value} before the change",
        "转出人上次跟进在转出前{value}",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "lead_stage",
        "Lead stage at change",
        "转出时线索阶段",
        "rank",
        "Stage of the customer's latest lead at the change: 0 none, 1 open and not contacted, "
        "2 contacted (being worked), 3 converted, 4 lost.",
        "lead stage at the change {value} (0 none .. 2 being worked, 3 won, 4 lost)",
        "转出时线索阶段为{value}（0无，2跟进中，3成交，4丢失）",
        tables=(*UNIT, "leads"),
    ),
    Feature(
        "lead_age_days",
        "Age of the lead at change",
        "转出时线索存续天数",
        "days",
        "Days from the creation of the customer's latest lead to the change.",
        "the lead was {value} old at the change",
        "转出时线索已存在{value}",
        tables=(*UNIT, "leads"),
    ),
    # -- the receiver's work between change and cut-off -----------------------------------------
    Feature(
        "receiver_acts_after",
        "Receiver activities after change",
        "接收人转入后跟进次数",
        "count",
        "The receiver's activities on the customer between the change and the cut-off (the next order).",
        "receiver logged {value} activities on the customer before the order",
        "接收人在下单前跟进{value}次",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "receiver_first_touch_days",
        "Days to the receiver's first touch",
        "接收人首次跟进用时",
        "days",
        "Days from the change to the receiver's first activity on the customer (unknown if none before the cut-off).",
        "receiver first touched the customer {value} after the change",
        "接收人在转入后{value}首次跟进",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "giver_acts_after",
        "Giver activities after change",
        "转出人转出后仍跟进次数",
        "count",
        "The giver's activities on the customer after handing it over, before the cut-off.",
        "giver still logged {value} activities on the customer after the change",
        "转出后转出人仍跟进{value}次",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "window_days",
        "Days from change to cut-off",
        "转出至评分时点天数",
        "days",
        "Days between the change and the moment it is scored (the next order, or the as-of time).",
        "scored {value} after the change",
        "转出后{value}评分",
        tables=UNIT,
    ),
    # -- time to order and order size -----------------------------------------------------------
    Feature(
        "has_order",
        "Order after change",
        "转出后已下单",
        "flag",
        "Whether the customer placed an order after the change (before the cut-off).",
        "customer ordered after the change: {value}",
        "转出后客户已下单：{value}",
        tables=UNIT,
    ),
    Feature(
        "days_to_order",
        "Days from change to order",
        "转出至下单天数",
        "days",
        "Days from the change to the customer's next order (unknown if none yet).",
        "the customer ordered {value} after the change",
        "客户在转出后{value}下单",
        tables=UNIT,
    ),
    Feature(
        "order_amount",
        "Order amount",
        "订单金额",
        "currency",
        "Amount of the customer's next order after the change.",
        "order of {value}",
        "订单金额{value}",
        tables=UNIT,
    ),
    Feature(
        "order_vs_customer_history",
        "Order size vs customer history",
        "订单金额/客户历史均值",
        "ratio",
        "The order's amount divided by the customer's mean earlier order (unknown for a first order).",
        "order {value} the customer's usual size",
        "订单为客户历史均值的{value}",
        tables=UNIT,
    ),
    Feature(
        "order_vs_receiver_history",
        "Order size vs receiver's orders",
        "订单金额/接收人历史均值",
        "ratio",
        "The order's amount divided by the receiver's mean credited order in the year before the change.",
        "order {value} the receiver's usual deal",
        "订单为接收人历史均单的{value}",
        tables=UNIT,
    ),
    Feature(
        "order_is_new",
        "First order of the customer",
        "客户首单",
        "flag",
        "Whether the order is the customer's first (a new-customer order).",
        "first order of the customer: {value}",
        "客户首单：{value}",
        tables=UNIT,
    ),
    Feature(
        "customer_prior_orders",
        "Customer's earlier orders",
        "客户历史订单数",
        "count",
        "Orders of the customer before the change.",
        "customer had {value} earlier orders",
        "客户此前下单{value}次",
        tables=UNIT,
    ),
    Feature(
        "customer_age_days",
        "Customer age at change",
        "转出时客户存续天数",
        "days",
        "Days from the customer's creation to the change.",
        "customer existed for {value} at the change",
        "转出时客户已存在{value}",
        tables=(*UNIT, "customers"),
    ),
    # -- the pair's history and the giver's pattern ---------------------------------------------
    Feature(
        "pair_prior_changes",
        "Earlier changes between the pair",
        "双方历史转移次数",
        "count",
        "Earlier ownership changes from the same giver to the same receiver.",
        "{value} earlier changes from this giver to this receiver",
        "该转出人此前向该接收人转移{value}次",
        tables=UNIT,
    ),
    Feature(
        "giver_changes_90d",
        "Giver's changes in 90 days",
        "转出人近90天转出次数",
        "count",
        "Ownership changes the giver made in the 90 days before this one.",
        "giver made {value} other changes in the 90 days before",
        "转出人此前90天转出{value}次",
        tables=UNIT,
    ),
    Feature(
        "giver_changes_same_day",
        "Giver's changes that day",
        "转出人当天转出次数",
        "count",
        "Ownership changes the giver made on the same calendar day (bulk handovers are usually legitimate).",
        "giver made {value} changes that day",
        "转出人当天共转出{value}个客户",
        tables=UNIT,
    ),
    Feature(
        "reason_present",
        "Reason given",
        "填写了转移原因",
        "flag",
        "Whether the change carries a reason text.",
        "reason given: {value}",
        "填写转移原因：{value}",
        tables=UNIT,
    ),
    Feature(
        "receiver_is_assistant",
        "Receiver is an assistant",
        "接收人为销售助理",
        "flag",
        "Whether the receiver's role is assistant.",
        "receiver is an assistant: {value}",
        "接收人为助理：{value}",
        tables=(*UNIT, "employees"),
    ),
    Feature(
        "same_team",
        "Giver and receiver in one team",
        "双方同一团队",
        "flag",
        "Whether giver and receiver belong to the same team.",
        "same team: {value}",
        "同一团队：{value}",
        tables=(*UNIT, "employees"),
    ),
    # -- the receiver's incentive ---------------------------------------------------------------
    Feature(
        "receiver_transfer_revenue_share",
        "Receiver revenue via transfers",
        "接收人经转移获得的收入占比",
        "share",
        "Share of the receiver's credited revenue in the 180 days before the change that came from "
        "customers transferred to them.",
        "{value} of the receiver's recent revenue came via transfers",
        "接收人近期收入中{value}来自转移客户",
        tables=UNIT,
    ),
    Feature(
        "receiver_target_gap",
        "Receiver's open target at change",
        "接收人转入时目标缺口",
        "share",
        "Share of the receiver's revenue target for the month still open at the change "
        "(1 - month-to-date credited revenue / target, floored at 0).",
        "receiver still needed {value} of the month's target",
        "接收人当月目标尚差{value}",
        tables=(*UNIT, "targets"),
    ),
    Feature(
        "days_to_period_end",
        "Days to month end at change",
        "转出时距月末天数",
        "days",
        "Days from the change to the end of its calendar month (the target period).",
        "change made {value} before the month end",
        "转移发生在月末前{value}",
        tables=UNIT,
    ),
    Feature(
        "receiver_tenure_days",
        "Receiver tenure",
        "接收人司龄",
        "days",
        "Days from the receiver's hire date to the change.",
        "receiver had {value} of tenure",
        "接收人司龄{value}",
        tables=(*UNIT, "employees"),
    ),
    # -- departures and leave -----------------------------------------------------------------
    Feature(
        "giver_days_to_exit",
        "Days until the giver leaves",
        "转出人离职倒计时",
        "days",
        "Days from the change to the giver's termination date (unknown if the giver is not leaving).",
        "giver leaves {value} after the change",
        "转出人将在{value}后离职",
        tables=(*UNIT, "employees"),
    ),
    Feature(
        "giver_activity_rate_after",
        "Giver's activity after change (per day)",
        "转出后转出人日均活动",
        "count",
        "The giver's activities on any customer per day in the 14 days after the change (up to the "
        "cut-off); near zero when the giver is on leave.",
        "giver logged {value} activities a day after the change",
        "转出后转出人日均活动{value}次",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "giver_activity_rate_before",
        "Giver's activity before change (per day)",
        "转出前转出人日均活动",
        "count",
        "The giver's activities on any customer per day in the 14 days before the change.",
        "giver logged {value} activities a day before the change",
        "转出前转出人日均活动{value}次",
        tables=(*UNIT, "activities"),
    ),
    model=MODEL,
)

register(
    Feature(
        "pair_prior_quick_orders",
        "Pair's earlier quick-closing transfers",
        "双方此前快速成交的转移次数",
        "count",
        "Earlier transfers from this giver to this receiver whose customer ordered within 14 days "
        "(counted once that order is known, before this change).",
        "{value} earlier transfers from this giver to this receiver closed within 14 days",
        "该转出人此前转给该接收人的客户有{value}个在14天内成交",
        tables=UNIT,
    ),
    Feature(
        "giver_prior_quick_orders",
        "Giver's earlier quick-closing transfers",
        "转出人此前快速成交的转移次数",
        "count",
        "Earlier transfers by the giver (to anyone) whose customer ordered within 14 days.",
        "{value} earlier transfers by this giver closed within 14 days",
        "转出人此前转出的客户有{value}个在14天内成交",
        tables=UNIT,
    ),
    Feature(
        "receiver_prior_quick_orders",
        "Receiver's earlier quick-closing transfers",
        "接收人此前快速成交的转入次数",
        "count",
        "Earlier transfers to the receiver (from anyone) whose customer ordered within 14 days.",
        "{value} earlier transfers to this receiver closed within 14 days",
        "接收人此前转入的客户有{value}个在14天内成交",
        tables=UNIT,
    ),
    model=MODEL,
)

register(
    Feature(
        "reason_customer_request",
        "Reason: customer asked",
        "原因：客户要求",
        "flag",
        "Whether the reason text says the customer asked for the change (keywords configurable).",
        "reason says the customer asked: {value}",
        "原因为客户要求：{value}",
        tables=UNIT,
    ),
    Feature(
        "reason_contradicted",
        "Reason contradicted by the records",
        "原因与记录不符",
        "flag",
        "The reason claims something the records contradict: account maintenance for a customer who "
        "never ordered, leave while the giver keeps working, leaving with no exit within 60 days, "
        "workload balancing for a deal that ordered within 14 days, a customer request while the giver "
        "keeps working the client.",
        "reason contradicted by the records: {value}",
        "转移原因与记录不符：{value}",
        tables=(*UNIT, "activities", "employees"),
    ),
    model=MODEL,
)

register(
    Feature(
        "giver_quick_vs_team",
        "Giver's quick-closing transfers vs team",
        "转出人快速成交转移数（相对团队）",
        "count",
        "Transfers by the giver in the last year whose customer ordered within 14 days, minus the mean of "
        "the other members of the giver's team (a team that hands accounts over at signing is not unusual).",
        "giver made {value} more quick-closing transfers than a typical teammate this year",
        "转出人近一年快速成交的转移比同组平均多{value}次",
        tables=(*UNIT, "employees"),
    ),
    model=MODEL,
)

register(
    # -- what tells a legitimate look-alike hand-over from a parked deal ------------------------
    Feature(
        "reason_signing",
        "Reason: handover at signing",
        "原因：签约交接",
        "flag",
        "Whether the reason text says the account is handed over at signing / for onboarding (keywords configurable).",
        "reason says handover at signing: {value}",
        "原因为签约交接：{value}",
        tables=UNIT,
    ),
    Feature(
        "reason_leave",
        "Reason: leave cover",
        "原因：休假代管",
        "flag",
        "Whether the reason text says the giver goes on leave (keywords configurable).",
        "reason says leave cover: {value}",
        "原因为休假代管：{value}",
        tables=UNIT,
    ),
    Feature(
        "reason_maintenance",
        "Reason: account maintenance",
        "原因：客户维护",
        "flag",
        "Whether the reason text says the account is handed over for maintenance / after-sales (keywords "
        "configurable).",
        "reason says account maintenance: {value}",
        "原因为客户维护：{value}",
        tables=UNIT,
    ),
    Feature(
        "receiver_contacts_after",
        "Receiver meetings/calls after change",
        "接收人转入后面谈/通话次数",
        "count",
        "The receiver's meetings, calls and visits with the customer between the change and the cut-off "
        "(an introduction or onboarding contact before the order).",
        "receiver met or called the customer {value} times before the order",
        "接收人在下单前与客户面谈/通话{value}次",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "giver_share_after",
        "Giver's share of the work after change",
        "转出后转出人跟进占比",
        "share",
        "The giver's share of the activities on the customer (giver + receiver) between the change and "
        "the cut-off (unknown if neither worked it).",
        "giver did {value} of the work on the customer after the change",
        "转出后该客户的跟进中转出人占{value}",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "giver_days_to_next_activity",
        "Days until the giver works again",
        "转出人恢复工作用时",
        "days",
        "Days from the morning after the change to the giver's next activity on any customer (the time to "
        "the cut-off if none); long when the giver went on leave or left.",
        "giver was next seen working {value} after the change",
        "转出人在转出后{value}才再次有活动",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "receiver_prior_quick_givers",
        "Givers of the receiver's quick-closing transfers",
        "向接收人转入快速成交客户的人数",
        "count",
        "Distinct givers whose earlier transfers to the receiver ordered within 14 days (counted once "
        "that order is known, before this change).",
        "{value} different givers already passed this receiver deals that closed within 14 days",
        "已有{value}名转出人向该接收人转入过14天内成交的客户",
        tables=UNIT,
    ),
    Feature(
        "receiver_prior_parked",
        "Receiver's earlier parked-looking transfers",
        "接收人此前疑似挂单转入次数",
        "count",
        "Earlier transfers to the receiver, scored before this change, that ordered while the receiver "
        "did nothing and the giver kept working the customer.",
        "{value} earlier transfers to this receiver ordered while only the giver worked them",
        "接收人此前有{value}个转入客户在仅由转出人跟进的情况下成交",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "receiver_prior_parked_givers",
        "Givers of the receiver's parked-looking transfers",
        "向接收人疑似挂单的转出人数",
        "count",
        "Distinct givers among the receiver's earlier parked-looking transfers (ordered while the receiver "
        "did nothing and the giver kept working), scored before this change.",
        "{value} different givers earlier passed this receiver deals they kept working",
        "已有{value}名转出人向该接收人转入客户后仍自行跟进至成交",
        tables=(*UNIT, "activities"),
    ),
    Feature(
        "order_days_to_period_end",
        "Days from order to month end",
        "下单时距月末天数",
        "days",
        "Days from the order to the end of its calendar month (the receiver's target period; unknown if no order yet).",
        "order closed {value} before the month end",
        "订单在月末前{value}成交",
        tables=UNIT,
    ),
    Feature(
        "receiver_gap_at_order",
        "Receiver's open target at order",
        "下单时接收人目标缺口",
        "share",
        "Share of the receiver's revenue target for the order's month still open just before the order "
        "(1 - month-to-date credited revenue / target, floored at 0; unknown if no order yet).",
        "receiver still needed {value} of the month's target when the order came",
        "下单前接收人当月目标尚差{value}",
        tables=(*UNIT, "targets"),
    ),
    Feature(
        "order_fills_gap",
        "Order lifts the receiver over target",
        "订单使接收人达成目标",
        "flag",
        "Whether the receiver was short of the month's revenue target just before the order and the order "
        "takes her over it (unknown if no order or no target).",
        "the order took the receiver over the month's target: {value}",
        "该订单使接收人当月达成目标：{value}",
        tables=(*UNIT, "targets"),
    ),
    model=MODEL,
)

register(
    # -- along a declared hand-over flow (company policy only): against the flow's usual ----------
    Feature(
        "flow_worked_days_vs_peers",
        "Giver's work vs the flow's usual",
        "转出人跟进天数（相对同流程）",
        "days",
        "Days the giver worked the customer before the change, minus the median of the earlier hand-overs "
        "along the same declared flow (unknown for undeclared hand-overs or with fewer than 5 peers).",
        "giver worked the customer {value} longer than usual for its hand-over flow",
        "转出人跟进天数比同流程通常多{value}",
        tables=(*UNIT, "activities", "employees"),
    ),
    Feature(
        "flow_giver_acts_after_vs_peers",
        "Giver's work after change vs the flow's usual",
        "转出后转出人跟进（相对同流程）",
        "count",
        "The giver's activities on the customer after the change, minus the median along the same declared flow.",
        "giver logged {value} more activities after the hand-over than usual for its flow",
        "转出后转出人跟进次数比同流程通常多{value}",
        tables=(*UNIT, "activities", "employees"),
    ),
    Feature(
        "flow_receiver_acts_after_vs_peers",
        "Receiver's work vs the flow's usual",
        "接收人跟进（相对同流程）",
        "count",
        "The receiver's activities on the customer before the cut-off, minus the median along the same declared flow.",
        "receiver logged {value} more activities than usual for its flow",
        "接收人跟进次数比同流程通常多{value}",
        tables=(*UNIT, "activities", "employees"),
    ),
    Feature(
        "flow_days_to_order_vs_peers",
        "Days to order vs the flow's usual",
        "下单用时（相对同流程）",
        "days",
        "Days from the change to the order, minus the median of the hand-overs along the same declared flow "
        "that ordered (negative: sooner than usual).",
        "ordered {value} later than usual for its hand-over flow (negative: sooner)",
        "下单比同流程通常晚{value}（负数为更早）",
        tables=(*UNIT, "employees"),
    ),
    model=MODEL,
)

# The line that leads the reasons of a hand-over along a declared flow (names the flow and the peer
# comparison), per language.
FLOW_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "flow": "hand-over along the declared flow {flow}",
        "order": "ordered {days} after the hand-over; usual for {pair} here: {usual}",
        "giver": "giver logged {acts} activities on it afterwards; usual here: {usual}",
    },
    "zh": {
        "flow": "按已声明的交接流程{flow}转交",
        "order": "交接后{days}下单，本公司{pair}通常为{usual}",
        "giver": "交接后转出人仍跟进{acts}次；通常为{usual}",
    },
}


def flow_reason(label: str, row, lang: Lang = "en") -> str:
    """ "hand-over along the declared flow qualification (SDR→AE); ordered 3 days after the hand-over; usual for
    SDR→AE here: 9 days; ..." (or its `lang` = "zh" text) from a feature-frame row (`flow_*` peer features and
    `flow_usual_*` medians)."""
    text = FLOW_TEXTS[lang]
    pair = label[label.rfind("(") + 1 : -1] if label.endswith(")") else label
    parts = [text["flow"].format(flow=label)]
    usual = row.get("flow_usual_days_to_order")
    diff = row.get("flow_days_to_order_vs_peers")
    if usual is not None and diff is not None and not (math.isnan(usual) or math.isnan(diff)):
        parts.append(
            text["order"].format(
                days=format_value(usual + diff, "days", lang), pair=pair, usual=format_value(usual, "days", lang)
            )
        )
    usual = row.get("flow_usual_giver_acts_after")
    diff = row.get("flow_giver_acts_after_vs_peers")
    if usual is not None and diff is not None and not (math.isnan(usual) or math.isnan(diff)):
        parts.append(
            text["giver"].format(
                acts=format_value(usual + diff, "count", lang), usual=format_value(usual, "count", lang)
            )
        )
    return "; ".join(parts)  # the separator of the other reason lines (`Explanations.reasons`)
