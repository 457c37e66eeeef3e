"""Slack adapter: escaping (:mod:`.mrkdwn`), the incident message (:mod:`.blocks`), the Notifier over the Web
API (:mod:`.notifier`) and verified parsing of Slack's requests (:mod:`.interactions`).

Submodules are imported explicitly by their users, so the interactions endpoint does not load the Web API
client on its cold start.
"""
