"""Regency ↔ center synchronisation (spec ``prr-bundle-v1`` §4–§5).

:mod:`printctl.sync.eventbundle` is the signed container for issuance events the office sends
the center, and the center's signed receipt for a flash-drive delivery;
:mod:`printctl.sync.client` is the office's HTTP client for the pull API, built for an
unreliable network (retries with backoff, resumable downloads, idempotent event delivery).
"""
