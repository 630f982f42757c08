"""Services: the work each phase of a cycle does. Tasks call these; these call engine and ports."""
