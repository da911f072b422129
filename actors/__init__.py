"""The actors of voicebot; each module holds one, and messages.py every message they exchange."""
