"""Analytics: player beacons in (`collector`), stats and usage out (`queries`)."""
