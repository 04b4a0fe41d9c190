"""The guide's agent workflow: a run sends ``agent-message`` events on ``agent-{sessionId}``.

``assistant.py`` is where a real model plugs in; ``workflow.py`` is the run and its steps;
``routes.py`` exposes it over HTTP.
"""
