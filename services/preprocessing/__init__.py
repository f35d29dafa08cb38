"""The preprocessing service: feature specs, cleaning, splits, fitted transforms, feature sets."""
