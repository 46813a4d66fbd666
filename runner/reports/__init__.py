"""What the audit log says, for people: ``ftjanitor report`` and the daemon's status page.

Both fold the same audit records (``history``), which are the run events as the audit sink
wrote them, so neither keeps a bookkeeping of its own. (``runner.report`` is something
else: the plan and run output of one invocation.)
"""
