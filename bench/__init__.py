"""eventyard's benchmarks: `python -m bench` (or `make bench`); see `python -m bench --help`.

Every comparison runs its contestants interleaved (A B A B …) in one process tree on one
throwaway vhost, and reports median, min, max and the ratio to its baseline. Benchmarks print
figures; they are never run as tests.
"""
