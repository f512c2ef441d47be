"""High-performer profile (employee: behaviour in months 1-6 -> top quartile of attainment in months 7-12)."""
