"""The one adapter between a Snakemake `script:` and the library.

Every rule script runs its work inside `snakemake_job(snakemake)`: the job's log
file gets its log records, warnings and progress bars; torch uses the job's
threads; and, once the work succeeded, the job's provenance record is written to
its `provenance` output. (Elsewhere the library never sees the `snakemake` object.)
A file the job cannot read (`CorruptFileError`) ends it with that error's one line on
stderr, "<rule>: <path>: what is wrong"; the traceback stays in the job's log file.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Iterator

from sdprune.io import CorruptFileError
from sdprune.log import job_logging
from sdprune.workflow.provenance import write_job_record


@contextlib.contextmanager
def snakemake_job(smk, *, threads: bool = True) -> Iterator[logging.Logger]:
    started = time.time()
    try:
        with job_logging(smk.log[0], threads=smk.threads if threads else None) as log:
            yield log
            if "provenance" in smk.output.keys():
                _write_provenance(smk, started)
    except CorruptFileError as error:
        raise SystemExit(f"{smk.rule}: {error}") from None


def _write_provenance(smk, started: float) -> None:
    params = smk.params.stage if "stage" in smk.params.keys() else dict(smk.params.items())
    write_job_record(
        smk.output.provenance,
        rule=smk.rule,
        wildcards=dict(smk.wildcards.items()),
        params=params,
        inputs=dict(smk.input.items()),
        outputs=dict(smk.output.items()),
        started=started,
        seed=smk.config.get("seed"),
    )
