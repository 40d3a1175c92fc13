"""How long to wait before trying again after failures: doubling from a first delay, up to a cap.

Shared by every retry loop that keeps work on disk (the action server's handoff outbox and audit
queue, the handoff service's outbound webhooks), so the schedule is written once.  Each caller
names its own numbers: a customer waits for a saved handoff (seconds), an external desk does not
(minutes).  Dependency-free: the action server and the service both import it.
"""


def backoff(attempts: int, first: float, cap: float) -> float:
    """Seconds before the next try after ``attempts`` failures: first, 2 x first, 4 x first ... at most cap.

    ``attempts`` below 1 counts as 1 (the first retry waits ``first``).
    """
    return float(min(cap, first * 2 ** max(0, attempts - 1)))
