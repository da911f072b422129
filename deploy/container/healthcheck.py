"""The image's HEALTHCHECK: healthy while the bot's /healthz answers 200 (polling or serving the webhook, with
a transcription worker ready; on a shared database, the leader or a standby). Standard library only: the image
has no curl."""
import os
import sys
import urllib.request

_, _, port = os.environ.get("VOICEBOT_METRICS_LISTEN", "0.0.0.0:9464").rpartition(":")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except OSError as error:
    print(f"/healthz did not answer 200: {error}")
    sys.exit(1)
