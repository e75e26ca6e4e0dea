"""Point-in-time customer features, labels and snapshot plans (DESIGN §3-4)."""
