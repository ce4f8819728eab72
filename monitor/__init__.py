"""Flower, the monitoring UI of DEMO.md step 8: its Celery object (`monitor.celery_app`) and its
settings (`monitor/flowerconfig.py`). supervisord's `[program:flower]` runs it."""
