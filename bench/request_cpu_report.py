"""The report of bench/request_cpu.py: cProfile statistics per request (by package, top functions)
and the markdown table."""

from __future__ import annotations

import pstats
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TOP_FUNCTIONS = 25


def by_package(stats: pstats.Stats, requests: int) -> dict[str, dict[str, float]]:
    """Python calls and own CPU per request, grouped by the package the function lives in."""
    groups: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (filename, _, _), (_, calls, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        groups[_package(filename)][0] += calls
        groups[_package(filename)][1] += own
    return {
        name: {"calls": calls / requests, "own_us": 1e6 * own / requests}
        for name, (calls, own) in sorted(groups.items(), key=lambda entry: -entry[1][1])
    }


def _package(filename: str) -> str:
    if filename.startswith("<") or filename == "~":
        return "builtins"
    parts = Path(filename).parts
    for marker in ("site-packages", "gateway"):
        if marker in parts:
            index = parts.index(marker)
            return parts[index + 1].removesuffix(".py") if marker == "site-packages" else "gateway"
    if "lib" in parts:
        return "stdlib:" + parts[-1].removesuffix(".py")
    return parts[-1]


def top_functions(stats: pstats.Stats, requests: int) -> list[dict[str, Any]]:
    rows = []
    for (filename, line, function), (_, calls, own, total, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{_package(filename)}:{Path(filename).name}:{line}({function})",
                "calls": calls / requests,
                "own_us": 1e6 * own / requests,
                "cumulative_us": 1e6 * total / requests,
            }
        )
    rows.sort(key=lambda row: -row["own_us"])
    return rows[:TOP_FUNCTIONS]


def portable(argv: Sequence[str]) -> list[str]:
    """The command line with each ``--against`` checkout's path written as ROOT."""
    result = []
    for index, part in enumerate(argv):
        if index > 0 and argv[index - 1] == "--against" and "=" in part:
            label, _, rest = part.partition("=")
            loop = rest.partition("@")[2]
            result.append(f"{label}=ROOT" + (f"@{loop}" if loop else ""))
        else:
            result.append(part)
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Event-loop CPU per /v2 infer request",
        "",
        f"Command: `{result['command']}`",
        "",
        f"{result['date']}; Python {result['python']}, model `{result['model']}` "
        f"input {result['input_shape']} FP32 as binary tensors, one sequential client on 127.0.0.1, "
        "the variants alternating in blocks. CPU is the event-loop thread's own (schedstat), "
        "without the profiler; calls are cProfile's on the event-loop thread, in a second pass. "
        "Default config and admission, but `admission.rate_per_s` raised so that one client's "
        "back-to-back refusals stay 503s.",
        "",
        "| phase | variant | requests | loop CPU ms/request | of it in the kernel | page faults/request | "
        "Python calls/request | client CPU ms/request | client p50 ms | load average |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, entries in result["phases"].items():
        for label, entry in entries.items():
            load = " - ".join(f"{value:.2f}" for value in entry["load_average"])
            lines.append(
                f"| {name} ({entry['status']}) | {label} | {entry['requests']} | "
                f"{entry['loop_cpu_ms_per_request']:.3f} | {entry['loop_system_share']:.0%} | "
                f"{entry.get('loop_page_faults_per_request', float('nan')):.1f} | "
                f"{entry['python_calls_per_request']:.0f} | {entry['client_cpu_ms_per_request']:.3f} | "
                f"{entry['client_p50_ms']:.2f} | {load} |"
            )
    for name, entries in result["phases"].items():
        for label, entry in entries.items():
            lines += ["", f"## {name}, {label}: by package (per request, under the profiler)", ""]
            lines += ["| package | calls | own µs |", "|---|---:|---:|"]
            lines += [
                f"| {package} | {values['calls']:.1f} | {values['own_us']:.1f} |"
                for package, values in entry["by_package"].items()
                if values["calls"] >= 0.5
            ]
            lines += ["", "| function | calls | own µs | cumulative µs |", "|---|---:|---:|---:|"]
            lines += [
                f"| `{row['function']}` | {row['calls']:.1f} | {row['own_us']:.1f} "
                f"| {row['cumulative_us']:.1f} |"
                for row in entry["top_functions"]
            ]
    return "\n".join(lines) + "\n"
