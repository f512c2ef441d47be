"""How an alert reads in a list: one line in the reader's language (en or zh)."""

from __future__ import annotations

from collections.abc import Mapping

_SUMMARY = {
    "en": {
        "transfer_anomaly": "change {change_id} to {emp}: anomaly score {score}",
        "transfer_anomaly_unscored": "change {change_id} to {emp}",
        "decline": "{emp}: decline risk {score}",
        "decline_unscored": "{emp}: decline risk",
        "low_performer": "{emp}: scorecard {points} under the bar in {period}",
        "review_list": "{emp}: under the bar for consecutive periods up to {period}; review with a person",
        "reminder": "{emp}: follow-up reminders",
    },
    "zh": {
        "transfer_anomaly": "客户归属变更 {change_id}（转给 {emp}）：异常分 {score}",
        "transfer_anomaly_unscored": "客户归属变更 {change_id}（转给 {emp}）",
        "decline": "{emp}：业绩下滑风险 {score}",
        "decline_unscored": "{emp}：业绩下滑风险",
        "low_performer": "{emp}：{period} 考核得分 {points}，低于标准线",
        "review_list": "{emp}：截至 {period} 连续多期低于标准线，请人工复核",
        "reminder": "{emp}：跟进提醒",
    },
}


def summary_line(alert: Mapping, lang: str = "en") -> str:
    """A one-line description of an alert for lists, in `lang` (en or zh)."""
    texts = _SUMMARY.get(lang, _SUMMARY["en"])
    t, score = alert["type"], alert.get("score")
    key = t if t in texts else "reminder"
    if t in ("transfer_anomaly", "decline") and score is None:
        key = f"{t}_unscored"
    return texts[key].format(
        change_id=alert.get("change_id"),
        emp=alert.get("employee_id"),
        period=alert.get("period"),
        score=f"{score:.2f}" if score is not None else "",
        points=f"{score:g}" if score is not None else "",
    )


__all__ = ["summary_line"]
