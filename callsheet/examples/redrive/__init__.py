"""Re-drive examples: agents changed on purpose, to compare with what the log recorded.

``changed_supervisor.EagerSupervisor`` and ``changed_worker.ForgetfulWorker``, named
by ``callsheet redrive`` as ``MODULE:CLASS``.
"""

__all__: list[str] = []
