"""Calvarial bone marrow adiposity from head T1 MRI (Kaufmann 2024, eLife).

Modules: :mod:`~bma_genetics.calvarial.profiles` (simulated training profiles),
:mod:`~bma_genetics.calvarial.networks` (the dense profile network),
:mod:`~bma_genetics.calvarial.training` / :mod:`~bma_genetics.calvarial.inference` (kept apart),
:mod:`~bma_genetics.calvarial.metrics`, :mod:`~bma_genetics.calvarial.surface` (skin surface and
profiles from a head T1), :mod:`~bma_genetics.calvarial.qc` and the public API
:mod:`~bma_genetics.calvarial.api` (``run_profile_training``, ``run_calvarial``). See
``docs/calvarial.md``.
"""
