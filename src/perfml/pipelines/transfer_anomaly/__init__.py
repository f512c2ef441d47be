"""Transfer anomaly: is this ownership change a ripe deal handed over to inflate a target?"""
