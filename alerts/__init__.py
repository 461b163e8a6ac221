"""Alerts: stored results -> incidents -> outbox -> channels.

    part.py         Alerts: the ResultListener + ServicePart wired into `monitor run`
    incidents.py    next_state(state, run, policy, now): the pure state machine
    state_store.py  incidents, outbox and silences in SQLite (one transaction per change)
    outbox.py       OutboxWorker: ordered delivery per channel, retries, permanent errors
    channel.py      the channel seam: send(notice) -> Delivery, DeliveryError(permanent=...)
    slack.py, slack_message.py, console.py   the channels and the pure Slack message builder
    cli.py          monitor silence / unsilence / alert-test, incidents in monitor status
"""
