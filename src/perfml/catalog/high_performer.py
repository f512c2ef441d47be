"""Catalog entries of the high-performer profile features (`perfml.pipelines.high_performer`).

Every behaviour is measured over the employee's months 1-6 in the data (from the hire date, or from
the first data month for people hired earlier) and only from records dated before month 7 - or
before the scoring date, for someone still inside those months. Rates are per week or month of
that window. `attr_*` HR attributes need no entry: the catalog describes them generically.
"""
from __future__ import annotations

from perfml.catalog import Feature, register

_F = Feature

register(
    _F("visits_per_week", "Visits per week", "每周拜访次数", "count",
       "Customer visits logged per week of months 1-6.",
       "{value} visits a week", "每周拜访 {value} 次"),
    _F("visit_share", "Visits among customer contacts", "拜访占客户接触比例", "share",
       "Share of contacts with a customer or lead that were visits (rather than calls, emails, messages).",
       "{value} of customer contacts are visits", "客户接触中 {value} 为拜访"),
    _F("contacts_per_week", "Customer contacts per week", "每周客户接触次数", "count",
       "Activities with a customer or a lead, per week.",
       "{value} customer contacts a week", "每周客户接触 {value} 次"),
    _F("activities_per_week", "Activities per week", "每周活动数", "count",
       "CRM activities of every type per week (including prospecting and admin).",
       "{value} activities a week", "每周活动 {value} 次"),
    _F("calls_per_week", "Calls per week", "每周电话数", "count",
       "Calls logged per week.", "{value} calls a week", "每周电话 {value} 个"),
    _F("meetings_per_week", "Meetings per week", "每周会议数", "count",
       "Meetings logged per week.", "{value} meetings a week", "每周会议 {value} 次"),
    _F("early_contact_share", "Early-hour contact share", "早间联系占比", "share",
       "Share of activities logged before 09:00.",
       "{value} of activity before 9 am", "{value} 的活动在早上9点前"),
    _F("first_response_hours", "Lead first-response time", "线索首次响应时长", "hours",
       "Median hours from a lead's creation to its first contact (leads created and answered in the window).",
       "leads answered after {value} (median)", "线索中位 {value} 后首次联系"),
    _F("leads_contacted_24h_share", "Leads contacted within 24 h", "24小时内联系线索占比", "share",
       "Share of leads due in the window that were first contacted within 24 h of creation (metrics layer).",
       "{value} of leads contacted within 24 h", "{value} 的线索在24小时内联系"),
    _F("followup_gap_days", "Follow-up gap", "跟进间隔", "days",
       "Median days between consecutive touches of the same lead.",
       "a lead touched every {value} (median)", "同一线索平均每 {value} 跟进一次"),
    _F("touches_per_lead", "Touches per lead", "每条线索跟进次数", "count",
       "Activities on leads divided by the leads created in the window.",
       "{value} touches per lead", "每条线索跟进 {value} 次"),
    _F("leads_per_month", "New leads per month", "每月新线索", "count",
       "Leads created for the employee per month.",
       "{value} new leads a month", "每月新线索 {value} 条"),
    _F("lead_conversion_rate", "Lead conversion", "线索转化率", "share",
       "Converted / (converted + lost) among leads resolved in the window.",
       "lead conversion {value}", "线索转化率 {value}"),
    _F("new_customers_per_month", "New customers per month", "每月新客户", "count",
       "New-customer orders closed per month.",
       "{value} new customers a month", "每月新客户 {value} 个"),
    _F("new_revenue_share", "New-customer revenue share", "新客户收入占比", "share",
       "Share of credited revenue from new-customer orders (against repeat business).",
       "{value} of revenue from new customers", "{value} 的收入来自新客户"),
    _F("satisfaction_avg", "Customer satisfaction", "客户满意度", "score",
       "Mean satisfaction score (0-100) of surveys answered in the window.",
       "customer satisfaction {value}", "客户满意度 {value}"),
    _F("is_assistant", "Sales assistant", "销售助理", "flag",
       "Whether the employee is a sales assistant (attainment is ranked within role).",
       "sales assistant: {value}", "销售助理：{value}"),
    _F("tenure_at_start_months", "Tenure at window start", "观察期开始时司龄", "months",
       "Months from the hire month to the first month of the behaviour window (0 for hires inside the data).",
       "{value} of tenure before the window", "观察期前司龄 {value}"),
    _F("weeks_observed", "Weeks of behaviour observed", "已观察周数", "count",
       "Weeks from the window start to the cut-off (about 26 for a full six months).",
       "{value} weeks observed", "已观察 {value} 周"),
    model="high-performer",
)
