"""The pages' words in English and Chinese (display names and reasons come from the catalog)."""
from __future__ import annotations

TEXT = {
    "en": {
        "title": "perfml", "sign_in": "Sign in", "sign_out": "Sign out", "api_key": "API key",
        "sign_in_help": "Paste the API key you were given (pfm_...). It is exchanged once for a session; "
                        "the page never shows it again.",
        "bad_key": "That key is not valid (or was revoked).", "alerts": "Alerts", "team": "Team",
        "payout": "Payout", "models": "Models", "language": "Language", "switch": "Switch",
        "filter": "Filter", "model": "Model or rule", "status": "Status", "any": "any", "sort": "Sort by",
        "by_date": "date", "by_score": "score", "person": "Person", "score": "Score", "top_reason": "Top reason",
        "age": "Age", "summary": "Summary", "page": "Page", "of": "of", "previous": "Previous", "next": "Next",
        "no_alerts": "No alerts match.", "days": "d", "hours": "h", "high": "high risk", "elevated": "elevated risk",
        "low": "low risk", "scorecard": "scorecard", "open": "open", "confirmed": "confirmed",
        "dismissed": "dismissed", "factors": "Why: the factors", "base": "typical case",
        "this_alert": "this alert", "other": "all other factors",
        "how_to_read": "Read from the top: the typical case starts at the first mark; each bar is one factor, "
                       "with its value, moving the probability up (red) or down (blue) by the percentage points on the "
                       "right, until this alert's score at the bottom.",
        "trajectory": "Recent months", "revenue": "revenue", "revenue_target": "target", "activities": "activities",
        "evidence": "Evidence", "timeline": "The customer around the change", "when": "When", "kind": "Event",
        "who": "Who", "what": "What", "review": "Review", "decision": "Decision", "confirm": "Confirm",
        "dismiss": "Dismiss", "note": "Note (required)", "save": "Save review", "reviews": "Reviews so far",
        "note_required": "A note is required.", "saved": "Review saved.", "rule": "Rule", "period": "Period",
        "scorecard_title": "Scorecard", "indicator": "Indicator", "weight": "Weight", "points": "Points",
        "line": "Line", "amount": "Amount", "formula": "How", "inputs": "From", "total": "Total",
        "why_changed": "Why did the payout change since last month?", "no_change": "Nothing changed.",
        "before": "Before", "after": "After", "change": "Change", "no_result": "No result for this period.",
        "employee": "Employee", "decline": "Decline risk", "state": "State", "reminders": "Reminders due",
        "review_list": "Review list", "match": "Match to the high-performer profile",
        "copy": "Behaviours to copy", "not_tracked": "not tracked", "scored": "scored",
        "insufficient_history": "insufficient history", "no_activity": "no activity on record",
        "champion": "champion", "version": "Version", "metrics": "Test metrics (held-out) vs baseline",
        "report": "Evaluation report", "bias": "Bias audit", "flagged": "flagged", "not_found": "Not found",
        "not_found_text": "There is no such page, or it is not yours to see.", "forbidden": "Not allowed",
        "forbidden_text": "Your role cannot open this page.", "refused": "Refused",
        "csrf_text": "The form was stale or not sent from this site; reload the page and try again.",
        "created": "Created", "served": "served", "notice": "Suggestions for a person to review; nothing is decided automatically.",
        "left": "left", "loaded": "loaded", "pts": "points",
    },
    "zh": {
        "title": "perfml", "sign_in": "登录", "sign_out": "退出", "api_key": "API 密钥",
        "sign_in_help": "粘贴发给您的 API 密钥（pfm_...）。它只用于换取一次会话，页面不会再显示它。",
        "bad_key": "密钥无效（或已被吊销）。", "alerts": "预警", "team": "团队", "payout": "奖金",
        "models": "模型", "language": "语言", "switch": "切换", "filter": "筛选", "model": "模型或规则",
        "status": "状态", "any": "全部", "sort": "排序", "by_date": "日期", "by_score": "分数", "person": "员工",
        "score": "分数", "top_reason": "主要原因", "age": "时长", "summary": "摘要", "page": "第", "of": "页，共",
        "previous": "上一页", "next": "下一页", "no_alerts": "没有符合条件的预警。", "days": "天", "hours": "小时",
        "high": "高风险", "elevated": "中等风险", "low": "低风险", "scorecard": "考核得分", "open": "待处理",
        "confirmed": "已确认", "dismissed": "已驳回", "factors": "原因：各项因素", "base": "一般情况",
        "this_alert": "本条预警", "other": "其余因素",
        "how_to_read": "从上往下读：第一条标记是一般情况；每根条形是一项因素及其取值，按右侧的百分点把概率调高（红）"
                       "或调低（蓝），最后一条标记是本条预警的分数。",
        "trajectory": "近几个月", "revenue": "营收", "revenue_target": "目标", "activities": "活动",
        "evidence": "证据", "timeline": "变更前后的客户记录", "when": "时间", "kind": "事件", "who": "人员",
        "what": "内容", "review": "复核", "decision": "结论", "confirm": "确认", "dismiss": "驳回",
        "note": "备注（必填）", "save": "保存复核", "reviews": "已有复核", "note_required": "必须填写备注。",
        "saved": "复核已保存。", "rule": "规则", "period": "期间", "scorecard_title": "考核卡",
        "indicator": "指标", "weight": "权重", "points": "得分", "line": "项目", "amount": "金额",
        "formula": "计算", "inputs": "来源", "total": "合计", "why_changed": "奖金为什么和上月不同？",
        "no_change": "没有变化。", "before": "上月", "after": "本月", "change": "变化",
        "no_result": "该期间没有结果。", "employee": "员工", "decline": "下滑风险", "state": "状态",
        "reminders": "待办提醒", "review_list": "复核名单", "match": "与高绩效画像的匹配度",
        "copy": "值得学习的做法", "not_tracked": "未跟踪", "scored": "已评分", "insufficient_history": "历史不足",
        "no_activity": "无活动记录", "champion": "当前冠军", "version": "版本",
        "metrics": "测试指标（留出集）与基线对比", "report": "评估报告", "bias": "偏差审计", "flagged": "需关注",
        "not_found": "未找到", "not_found_text": "没有这个页面，或您无权查看。", "forbidden": "不允许",
        "forbidden_text": "您的角色不能打开此页面。", "refused": "已拒绝",
        "csrf_text": "表单已过期或不是从本站提交的；请刷新页面后重试。", "created": "创建时间",
        "served": "在用", "notice": "仅供人工复核的建议；不会自动做任何决定。", "left": "已离职", "loaded": "已加载", "pts": "个百分点",
    },
}
assert TEXT["en"].keys() == TEXT["zh"].keys(), "every word in both languages"


def risk_words(score: float | None, type_: str, lang: str) -> str:
    """A score in plain words: "high risk, 0.94" for model alerts, "scorecard 32.41" for the rules."""
    t = TEXT[lang]
    if score is None:
        return "—"
    if type_ in ("transfer_anomaly", "decline"):
        band = "high" if score >= 0.8 else "elevated" if score >= 0.5 else "low"
        return f"{t[band]}, {score:.2f}"
    return f"{t['scorecard']} {score:g}"
