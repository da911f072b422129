"""Persistence through peewee, the only package importing it: today's models (`models`), the numbered
schema migrations (`migrations`) and the repository every caller uses (`Storage`)."""
from voicebot.adapters.storage.repository import Storage as Storage
