"""xlwings user-defined functions: thin adapters, one engine call each."""
