"""Benchmarks (not tests): each prints ratios measured side by side in one run.

    .venv/bin/python -m bench.gateway_overhead     gateway vs direct, against a fast fake engine
    .venv/bin/python -m bench.metering_cost        metering off vs in-process vs Redis, same fake engine
    .venv/bin/python -m bench.engine_throughput    tokens/s of the embedded llama.cpp engine

Results are recorded in docs/benchmarks.md.
"""
