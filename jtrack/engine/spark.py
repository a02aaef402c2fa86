"""The Spark engine: a run's inputs read and its work units run by Spark tasks.

Planning, the run-wide decisions (duplicates, the far-future cut), finishing and the atomic
commit are the driver's code in jtrack.engine.run, the same for every engine; this module
provides what an Engine does (read, rows_at, run_units) with Spark:

- read: every new input is read by Spark tasks with jtrack's own readers and validators, so
  rows, positions, reject reasons and accounting are the local engine's. Plain JSON lines
  go through Spark's text source, split wherever Spark splits them (a first pass counts the
  lines and rows of every split, so each line gets its file line number and each row its
  position); canonical Parquet is copied as it is and validated by row ranges; any other
  file (compressed, UTF-16, a JSON document, other Parquet) is read whole by one task with
  the local engine's own code; stdin by the driver. Tasks write the segments into the
  version being built (pieces of a split file are joined afterwards) and stage their
  accepted rows (one row group per work unit), ids and rejects as Parquet files in it. The
  driver collects the compact id table (~30 bytes a row: fine up to ~100M rows a run) and
  the rejects.
- run_units: one Spark task per work unit calls jtrack.engine.unit.run_unit on the unit's
  staged rows (read with Polars, in input order: no shuffle of wide rows through the JVM);
  the unit's parts go straight into the version; its UnitResult comes back pickled.

The store (and the inputs) must be on a filesystem every worker sees: local for local[N],
a shared mount on a cluster; object stores are not supported for the store yet. pyspark
(the `spark` extra) is imported by name in this module only (see _pyspark). Never prints:
a SparkSession started here sends the JVM's output to a log file. Run as a script
(`spark-submit .../jtrack/engine/spark.py sessionize ...`) it is the jtrack CLI with
`--engine spark`.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import os
import pickle
import re
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial, reduce
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import polars as pl
import polars_hash  # noqa: F401  (.nchash; tasks are pickled by reference: workers import this)

from jtrack.checks import arrow_path
from jtrack.core.buckets import bucket_expr
from jtrack.engine.erasure import Erasure
from jtrack.engine.ingest import (
    _REJECT_COLUMNS,
    ID_SCHEMA,
    ROW_COLUMNS,
    UNIT_SCHEMA,
    LineBreaks,
    NewData,
    UnitRows,
    _no_rejects,
    _reencode_segment,
    _reencoded_chunks,
    input_file,
)
from jtrack.engine.inputs import Identity
from jtrack.engine.unit import UnitJob, UnitResult, run_unit
from jtrack.errors import DataError, JtrackError, UsageError
from jtrack.options import RunOptions
from jtrack.progress import ProgressFn, ProgressUpdate
from jtrack.read import (
    JSON_LINE_BYTES,
    MIN_BLOCK_BYTES,
    REASON,
    SRC_LINE,
    FileStats,
    Source,
    conform_rows,
    rejected_row_error,
)
from jtrack.read.decode import (
    _RAW_KEEP,
    _decode_text,
    _decoded_chunks,
    _split_blocks,
    shown_head,
)
from jtrack.read.jsonl import (
    _decode_lines,
    _detect_shape,
    _first_line,
    _is_document,
    _lines_frame,
    _text_lines,
)
from jtrack.read.passthrough import canonical_parquet, passthrough_range, passthrough_ranges
from jtrack.read.sources import _is_parquet, _open_error, compression
from jtrack.store.manifest import InputFile, SegmentInfo
from jtrack.store.writer import (
    SEGMENT_ROW_GROUP,
    SegmentWriter,
    VersionWriter,
    copy_segment,
    disk_error,
)

#: Rows of Arrow batches handed to Python tasks, and their bytes at most (long lines).
ARROW_BATCH_ROWS = 10_000
ARROW_BATCH_BYTES = 64 * 1024**2
#: The staging area of a run inside the version being written (removed before the commit).
STAGE = "spark-stage"
#: Bytes at the start of a file compared raw and decoded: equal means jtrack reads the file
#: as the plain UTF-8 text Spark's text source sees (not compressed, not UTF-16).
_SNIFF = 64 * 1024
#: Names Hadoop decompresses by their suffix (Spark's text source would too).
_CODEC_SUFFIXES = (".gz", ".bz2", ".deflate", ".zst", ".zstd", ".lz4", ".snappy", ".br", ".xz")
#: Characters a Hadoop path cannot hold as they are (glob patterns, URI syntax).
_HADOOP_UNSAFE = set("*?[]{}\\:%") | {"\n", "\r"}
_UTF8_BOM = b"\xef\xbb\xbf"
#: A line is blank (left out, as jtrack.read.jsonl._lines_frame leaves it out) when all of
#: it, after one byte-order mark, is Unicode white space (Java's (?U)\s and Rust's
#: is_whitespace are both Unicode White_Space).
_BLANK = r"(?U)\A\x{FEFF}?\s*\z"

_QUIET_LOG4J = """\
# jtrack: Spark says nothing but errors (and those go to jtrack's JVM log file). Root and
# org.apache must both be set: PySpark starts the JVM as an interpreter, and Spark then
# prints its default log level unless the two agree.
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
logger.apache.name = org.apache
logger.apache.level = error
logger.nativecode.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativecode.level = off
"""


def _pyspark(name: str) -> Any:
    """A pyspark module. pyspark is an optional extra (`pip install 'jtrack[spark]'`, which
    also brings the pandas that pyspark's Arrow functions check for), imported by name, here
    only: jtrack imports without it, and ../shared/tools/check_deps.py (which holds jtrack/
    to the required dependencies) does not count this optional one."""
    return importlib.import_module(name)


# ---------------------------------------------------------------------------- the session

_session: dict[str, Any] = {}


def spark_session(master: str | None = None) -> Any:
    """The SparkSession of this process: the one already running (spark-submit, a notebook,
    a test fixture), else one started here, quietly, on `master` (else $SPARK_MASTER, else
    local[*]). Every run of the process shares it. Ctrl-C stays as the process had it:
    PySpark's SparkContext installs its own SIGINT handler (which calls the JVM from inside
    a call to the JVM: py4j's tracebacks) and would also end a run started with SIGINT
    ignored; the handler from before is put back (see _ctrl_c for Ctrl-C during a job)."""
    core = _pyspark("pyspark")
    sql = _pyspark("pyspark.sql")
    main_thread = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGINT) if main_thread else None
    try:
        if core.SparkContext._active_spark_context is not None:
            spark = sql.SparkSession.builder.getOrCreate()
        elif "PYSPARK_GATEWAY_PORT" in os.environ:  # spark-submit started us: its JVM, its conf
            spark = sql.SparkSession.builder.appName("jtrack").getOrCreate()
        else:
            spark = _start(master or os.environ.get("SPARK_MASTER") or "local[*]")
    finally:
        if before is not None:
            signal.signal(signal.SIGINT, before)
    _check_interrupt()  # (a Ctrl-C while the JVM started)
    # Arrow timestamps come in the session's zone: jtrack's are UTC
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))
    spark.conf.set("spark.sql.execution.arrow.maxBytesPerBatch", str(ARROW_BATCH_BYTES))
    pylog = _pyspark("pyspark.logger")
    for name in ("DataFrameQueryContextLogger", "SQLQueryContextLogger"):
        # PySpark logs every analysis error it raises, with the Java stack, on stderr
        pylog.PySparkLogger.getLogger(name).disabled = True
    return spark


def jvm_log() -> Path | None:
    """Where the JVM of a session started by jtrack writes (None: no such session)."""
    log = _session.get("log")
    return Path(log) if log else None


def _keep_jvm_log() -> None:
    """Keep the JVM's log folder when the process exits (an error names the log)."""
    cleanup = _session.get("cleanup")
    if cleanup is not None:
        atexit.unregister(cleanup)


def _start(master: str) -> Any:
    """A SparkSession on `master`, its JVM launched here with its output to a log file."""
    core = _pyspark("pyspark")
    gateway = _pyspark("pyspark.java_gateway")
    sql = _pyspark("pyspark.sql")
    home = os.environ.get("JAVA_HOME")
    if home and not (Path(home) / "bin" / "java").is_file():
        # Spark's launcher runs $JAVA_HOME/bin/java whenever JAVA_HOME is set
        raise UsageError(
            f"JAVA_HOME={home} has no bin/java",
            hint="point JAVA_HOME at a Java 17+ installation, or unset it to use java on PATH",
        )
    if not home and shutil.which("java") is None:
        raise UsageError(
            "--engine spark needs Java 17 or later, and there is none",
            hint="install it (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
        )
    silent = _unreachable(master)
    if silent is not None:
        raise UsageError(
            f"Spark did not start on {master} (no master answers: {silent})",
            hint="check --spark-master: the host and port of a running master",
        )
    local = master.startswith("local")
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no loopback warning
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers import jtrack
    folder = Path(tempfile.mkdtemp(prefix="jtrack-spark-"))
    cleanup = partial(shutil.rmtree, folder, True)
    atexit.register(cleanup)
    props = folder / "log4j2.properties"
    props.write_text(_QUIET_LOG4J, encoding="utf-8")
    log_path = folder / "jvm.log"
    conf = core.SparkConf().setMaster(master).setAppName("jtrack")
    for key, value in (
        ("spark.ui.enabled", "false"),
        ("spark.ui.showConsoleProgress", "false"),
        ("spark.sql.session.timeZone", "UTC"),
    ):
        conf.setIfMissing(key, value)
    quiet = f"-Dlog4j2.configurationFile=file:{props}"  # a file here: not for remote executors
    defaults = _spark_defaults()
    for key, ours in (
        ("spark.driver.extraJavaOptions", f"-Duser.timezone=UTC {quiet}"),
        ("spark.executor.extraJavaOptions", "-Duser.timezone=UTC" + (f" {quiet}" if local else "")),
    ):
        theirs = conf.get(key, None) or defaults.get(key, "")
        conf.set(key, f"{theirs} {ours}".strip())
    with open(log_path, "wb") as log:
        try:
            # the JVM's own warnings (and -Xlog output, on stdout) go to the log, not to us
            with _sigint_held():
                gw = gateway.launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log})
            core.SparkContext(conf=conf, gateway=gw)
            # (a standalone master that never answers fails here, once its client gives up)
            spark = sql.SparkSession.builder.getOrCreate()
        except Exception as exc:
            atexit.unregister(cleanup)  # the log tells what went wrong
            active = core.SparkContext._active_spark_context
            if active is not None:
                with contextlib.suppress(Exception):
                    active.stop()
            old_java = _old_java(log_path)
            if old_java is not None:  # (said in full: the log is not needed)
                cleanup()
                raise UsageError(
                    f"--engine spark needs Java 17 or later, and {old_java}",
                    hint="install it (Debian: apt-get install openjdk-17-jre-headless) and "
                    "point JAVA_HOME at it",
                ) from None
            raise UsageError(
                f"Spark did not start on {master} ({_first_words(exc)})",
                hint=f"see the JVM's log {log_path}; check --spark-master and Java 17+",
            ) from None
    _session["log"] = str(log_path)
    _session["cleanup"] = cleanup
    return spark


#: The class file versions of Java releases (Java N writes version N + 44).
_CLASS_VERSION = re.compile(  # (Java 9 and later; one line)
    rb"UnsupportedClassVersionError: org/apache/spark/\S+ has been compiled by a more recent "
    rb"version of the Java Runtime \(class file version \d+\.\d+\), this version of the "
    rb"Java Runtime only recognizes class file versions up to (\d+)"
)
#: Java 8 and older say it of Spark's classes without their own version.
_OLD_CLASS_VERSION = re.compile(
    rb"UnsupportedClassVersionError: org/apache/spark/\S+ ?: Unsupported major\.minor version"
)


def _old_java(log_path: Path) -> str | None:
    """What the JVM's log says of a Java too old for Spark's own classes (`Java 11 was
    found`); None when it says nothing of it (a class of another library too new for a
    Java 17+ is another problem, which the log tells)."""
    try:
        text = log_path.read_bytes()[-65536:]
    except OSError:
        return None
    found = _CLASS_VERSION.search(text)
    if found is not None:
        java = int(found.group(1)) - 44  # (Java N reads class files up to version N + 44)
        return f"Java {java} was found" if java < 17 else None
    if _OLD_CLASS_VERSION.search(text):
        return "Java 8 or older was found"
    return None


#: Masters Spark takes (spark-submit's --master, as SparkContext parses them): local,
#: local[N], local[*], local[N, F], local-cluster[N, C, M], spark://HOST:PORT[,HOST:PORT...],
#: yarn, k8s://..., mesos://... (which Spark itself judges).
_MASTER = re.compile(
    r"local(\[\s*(\*|\d+)\s*(,\s*\d+\s*)?\])?"
    r"|local-cluster\[\s*\d+\s*,\s*\d+\s*,\s*\d+\s*\]"
    r"|spark://[^,:/\s]+:\d+(,[^,:/\s]+:\d+)*|yarn|(k8s|mesos)://\S+"
)


def check_master(master: str, named: str = "--spark-master") -> None:
    """UsageError for a master URL Spark would refuse (after starting its JVM, with a reason
    only in its log); IPv6 hosts are written in brackets, as Spark writes them. `named`:
    where it was given ($SPARK_MASTER when no option was)."""
    spelled = re.sub(r"\[[0-9a-fA-F:]+\]", "host", master) if "spark://" in master else master
    if not _MASTER.fullmatch(spelled):
        raise UsageError(
            f"{named} {master!r}: not a master URL Spark takes",
            hint="spark://HOST:PORT (several: spark://H1:P1,H2:P2), local[N], local[*], "
            "yarn or k8s://...",
        )


def _unreachable(master: str) -> str | None:
    """For a standalone master (spark://host:port, or several, comma-separated): why none
    of them takes a connection, else None (also for other masters, and URLs Spark itself
    refuses). Spark's own client tries for a minute before it gives up on a silent one."""
    if not master.startswith("spark://"):
        return None
    reasons = []
    for where in master[len("spark://") :].split(","):
        host, _, port = where.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
                return None
        except ValueError:
            return None  # not host:port: Spark says what is wrong with it
        except OSError as exc:
            reasons.append(f"{where}: {exc.strerror or exc}")
    return "; ".join(reasons)


def _spark_defaults() -> dict[str, str]:
    """spark-defaults.conf as spark-submit reads it ($SPARK_CONF_DIR, else $SPARK_HOME/conf;
    Java properties: `key value`, `key=value` or `key: value`): the options jtrack adds to
    keep what it says."""
    folder = os.environ.get("SPARK_CONF_DIR") or (
        str(Path(os.environ["SPARK_HOME"]) / "conf") if os.environ.get("SPARK_HOME") else None
    )
    out: dict[str, str] = {}
    try:
        text = (Path(folder) / "spark-defaults.conf").read_text(encoding="utf-8") if folder else ""
    except OSError:
        return out
    for line in text.splitlines():
        m = re.match(r"\s*([^\s=:#!][^\s=:]*)\s*[=:\s]\s*(.*?)\s*$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _first_words(exc: BaseException) -> str:
    """The first line of an error; for py4j's "An error occurred while calling ...", the
    Java exception's own message, which says what went wrong."""
    text = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not text:
        return type(exc).__name__
    if text[0].startswith("An error occurred while calling") and len(text) > 1:
        java = text[1].lstrip(": ")
        _, colon, message = java.partition(": ")
        return (message if colon else java)[:200]
    return text[0][:200]


# ---------------------------------------------------------------------------- Ctrl-C


class _Py4JQuiet(logging.Filter):
    """py4j logs what a Ctrl-C cut short (through the root logger, with tracebacks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return f"{os.sep}py4j{os.sep}" not in record.pathname


@contextlib.contextmanager
def _ctrl_c() -> Iterator[None]:
    """Ctrl-C while the engine drives Spark: the jobs are cancelled (from another thread:
    the main one is inside a call to the JVM, which a KeyboardInterrupt would break with
    py4j's tracebacks) and KeyboardInterrupt is raised once the call returns; a second
    Ctrl-C raises it at once. Only where Python's own handler is installed (a process
    started with SIGINT ignored keeps ignoring it; a notebook's handler stays)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    hits: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if hits:
            raise KeyboardInterrupt
        hits.append(signum)
        threading.Thread(target=_cancel_jobs, name="jtrack-cancel", daemon=True).start()

    quiet = _Py4JQuiet()
    root, py4j = logging.getLogger(), logging.getLogger("py4j")
    level = py4j.level
    root.addFilter(quiet)
    py4j.setLevel(logging.CRITICAL + 1)
    signal.signal(signal.SIGINT, handler)
    _session["hits"] = hits
    try:
        yield
    except Exception as exc:
        if hits:  # what the cancelled job raised
            raise KeyboardInterrupt from exc
        raise
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _session.pop("hits", None)
        root.removeFilter(quiet)
        py4j.setLevel(level)
    if hits:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Ctrl-C held back for a block, then delivered to the handler from before (at most
    twice): PySpark's launch of the JVM, which a KeyboardInterrupt would leave running
    after the process exits (it watches its stdin only once it has started)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGINT)
    if before in (signal.SIG_IGN, None):
        yield
        return
    held: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        for signum in held[:2]:
            signal.raise_signal(signum)


def _check_interrupt() -> None:
    """Raise the KeyboardInterrupt of a Ctrl-C _ctrl_c held back (before the next job)."""
    if _session.get("hits"):
        raise KeyboardInterrupt


def _cancel_jobs() -> None:
    context = _pyspark("pyspark").SparkContext._active_spark_context
    if context is not None:
        with contextlib.suppress(Exception):
            context.cancelAllJobs()


# ---------------------------------------------------------------------------- reading: plan


@dataclass
class _Input:
    """One new input and how it is read."""

    i: int  # its place among the run's new inputs
    src: Source
    segment: int
    seg_name: str
    seg_path: str
    how: str  # "text" (split by Spark), "file" (one task), "passthrough", "driver", "failed"
    fp: Identity | None = None
    genesys: bool = True  # "text": the shape, decided on the file's first block
    path: str = ""  # "text": the absolute path Spark is given


@dataclass
class _Ctx:
    """What every reading task shares."""

    stage: str
    buckets: int
    starts: list[int]  # first bucket of each work unit
    max_line_bytes: int
    chunk_rows: int
    src_offset: int


@dataclass
class _Split:
    """A split of a JSON lines file as Spark reads it, numbered by the first pass."""

    i: int
    name: str
    segment: int
    genesys: bool
    first_line: int  # file line number of its first line
    first_row: int  # row (position in the segment) of its first row
    lines: int
    rows: int


@dataclass
class _Failure:
    """A file-level error a task met (sent back as data: the run stops at the first one in
    input order, as the local engine would)."""

    i: int
    row: int  # rows of the input read before it (-1: before reading any)
    kind: type[JtrackError]
    message: str
    hint: str | None

    @classmethod
    def of(cls, i: int, row: int, exc: JtrackError) -> _Failure:
        return cls(i, row, type(exc), exc.message, exc.hint)

    def error(self) -> JtrackError:
        exc = self.kind.__new__(self.kind)
        JtrackError.__init__(exc, self.message, self.hint)
        return exc


@dataclass
class _Result:
    """What a reading task reports about one input (or one split or range of it)."""

    i: int
    kind: str
    rows: int = 0
    stats: FileStats | None = None
    start: int = 0  # the split's first byte, the range's first row
    lines: int = 0
    piece: str | None = None
    canonical: bool = True
    failure: _Failure | None = None
    #: where its rows are in the input (jtrack.engine.ingest.LineBreaks, rows of the segment)
    breaks: list[list[int]] | None = None


def _summed(name: str, shape: str, parts: list[_Result]) -> FileStats:
    """The accounting of an input read in parts (its splits or row ranges)."""
    stats = FileStats(name, shape)
    for r in parts:
        if r.stats is not None:
            stats.add(r.stats)
    return stats


def _classify(inp: _Input, max_line_bytes: int, block_bytes: int) -> None:
    """How an input is read: sets inp.how (and the shape of a text input)."""
    src = inp.src
    if src.path is None or src.stdin:  # (stdin: spooled on the driver's disk)
        inp.how = "driver"
        return
    if canonical_parquet(src.path):
        inp.how = "passthrough"
        return
    if _is_parquet(src):
        inp.how = "file"
        return
    inp.how = "file"
    if src.offset or (src.end is not None and src.end != os.path.getsize(src.path)):
        return  # the new lines of a grown file, or a file still being written
    path = os.path.abspath(src.path)
    name = os.path.basename(path)
    try:
        path.encode("utf-8")  # (a name in another encoding: Hadoop's paths are Unicode)
    except UnicodeEncodeError:
        return
    if (
        set(path) & _HADOOP_UNSAFE
        or name.lower().endswith(_CODEC_SUFFIXES)
        or name.startswith((".", "_"))  # Spark leaves hidden files out
        # a Hadoop checksum beside it: Hadoop checks the file against it (a file edited
        # since is "Checksum error"), where jtrack reads the file as it is
        or os.path.exists(os.path.join(os.path.dirname(path), f".{name}.crc"))
    ):
        return
    with open(src.path, "rb") as fh:
        raw = fh.read(_SNIFF)
    if compression(raw) or raw.startswith(_UTF8_BOM * 2) or raw == _UTF8_BOM:
        # compressed; two byte-order marks (Hadoop drops one, jtrack one a line); or a
        # byte-order mark alone, of which Hadoop makes no line at all, jtrack an empty one
        return
    try:
        decoded = b""
        for chunk in _decoded_chunks(src):
            decoded += chunk
            if len(decoded) >= len(raw):
                break
        if decoded[: len(raw)] != raw:  # UTF-16: jtrack decodes what Spark cannot
            return
        head, chunks = _first_line(_decoded_chunks(src), max_line_bytes)
        if _is_document(head, max_line_bytes):
            return
        genesys = _text_shape(src, chunks, max_line_bytes, block_bytes)
    except JtrackError:
        return  # the task reading it whole meets the error where the local engine does
    inp.how = "text"
    inp.path = path
    inp.genesys = genesys


def _text_shape(src: Source, chunks: Iterator[bytes], max_line_bytes: int, block: int) -> bool:
    """The shape jtrack.read.jsonl._iter_json_lines decides on a file's first block (of
    `block` bytes) by its first 20 lines: those lines, read here a MiB at a time (not the
    whole block: a file's first 20 lines are rarely more than a MiB)."""
    lines: list[str] = []
    seen = 0
    for part in _split_blocks(chunks, max_line_bytes, MIN_BLOCK_BYTES):
        text, _ = _decode_text(part.data, src.name)
        lines += _lines_frame(text, part.first_line)["line"].head(20 - len(lines)).to_list()
        seen += len(part.data)
        if len(lines) >= 20 or seen >= block:
            break
    return bool(_detect_shape(pl.Series(lines, dtype=pl.String)))


# ---------------------------------------------------------------------------- reading: tasks


class _Sink:
    """A task's accepted rows, ids and rejects, staged as Parquet files in the version
    being written (named by the task, so a task run again writes the same files)."""

    def __init__(self, ctx: _Ctx, tag: str) -> None:
        self.ctx = ctx
        self.tag = tag
        self.rows: list[pl.DataFrame] = []
        self.ids: list[pl.DataFrame] = []
        self.rejects: list[pl.DataFrame] = []
        self.held = 0
        self.flushes = 0

    def add(self, frame: pl.DataFrame, inp: _Input, row: int) -> None:
        """Rows of `inp` from `row` on (what jtrack.engine.ingest.read_inputs does with a
        chunk, rejected rows kept aside instead of stopping a failing run)."""
        frame = frame.with_columns(
            _pos=pl.int_range(row, row + frame.height, dtype=pl.UInt64) + (inp.segment << 32),
            _src=pl.lit(self.ctx.src_offset + inp.i, pl.UInt32),
        )
        self.held += frame.height  # rejects too: a file of rejects is no smaller
        bad = frame.get_column(REASON).is_not_null()
        if bad.any():
            self.rejects.append(frame.filter(bad).select(*_REJECT_COLUMNS, "_pos"))
            frame = frame.filter(~bad)
        good = frame.select(
            *ROW_COLUMNS, "_pos", bucket_expr(self.ctx.buckets).alias("bucket"), SRC_LINE
        )
        self.ids.append(
            good.select(
                pl.col("event_id").nchash.xxh3_64().alias("_h"),  # type: ignore[attr-defined]
                "created_date",
                "_pos",
                "bucket",
            )
        )
        self.rows.append(good)
        if self.held >= self.ctx.chunk_rows:
            self.flush()

    def flush(self) -> None:
        stage = Path(self.ctx.stage)
        name = f"{self.tag}-{self.flushes:05d}.parquet"
        if self.rows:
            rows = pl.concat(self.rows, how="vertical")
            starts = pl.Series(self.ctx.starts, dtype=pl.UInt16)
            unit = starts.search_sorted(rows.get_column("bucket"), side="right") - 1
            rows = rows.with_columns(_unit=unit).sort("_unit", maintain_order=True)
            _write_by_unit(rows, stage / "rows" / name)
            _write(pl.concat(self.ids, how="vertical"), stage / "ids" / name)
        if self.rejects:
            _write(pl.concat(self.rejects, how="vertical_relaxed"), stage / "rejects" / name)
        self.rows, self.ids, self.rejects, self.held = [], [], [], 0
        self.flushes += 1


def _write(frame: pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        frame.write_parquet(tmp, compression="lz4")
        os.replace(tmp, path)
    except OSError as exc:
        raise disk_error(path, exc) from exc


def _write_by_unit(rows: pl.DataFrame, path: Path) -> None:
    """Staged rows sorted by work unit, one row group per unit (a unit's task reads its own
    row groups only: Parquet statistics on `_unit`)."""
    import pyarrow.parquet as pq

    runs = rows.select(pl.col("_unit").rle()).unnest("_unit")
    table = rows.to_arrow(compat_level=pl.CompatLevel.oldest())
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        with pq.ParquetWriter(arrow_path(tmp), table.schema, compression="lz4") as writer:
            start = 0
            for n in runs.get_column("len").to_list():
                writer.write_table(table.slice(start, n), row_group_size=n)
                start += n
        os.replace(tmp, path)
    except OSError as exc:
        raise disk_error(path, exc) from exc


class _SplitReader:
    """The lines of one split, batch after batch, decoded as jtrack.read.jsonl decodes a
    block (_decode_text, _lines_frame, _decode_lines), numbered by the first pass."""

    def __init__(self, ctx: _Ctx, split: _Split, start: int, inp: _Input) -> None:
        self.ctx = ctx
        self.split = split
        self.inp = inp
        self.start = start
        self.lines = 0
        self.rows = 0
        self.stats = FileStats(split.name, "")
        self.failure: _Failure | None = None
        piece = Path(ctx.stage) / "pieces" / f"{split.segment:06d}-{start:016d}.parquet"
        self.piece = SegmentWriter(piece)
        self.breaks = LineBreaks()

    def feed(self, batch: Any, sink: _Sink) -> None:
        n = batch.num_rows
        first = self.split.first_line + self.lines
        self.lines += n
        if self.failure is not None:
            return
        try:
            data = _joined(batch.column("v"))
            lines, mark = _text_lines(data, first, self.split.name)
            del data
            frame, st = _decode_lines(
                self.split.name,
                lines,
                self.ctx.max_line_bytes,
                "line",
                mark,
                _overlong(batch, first),
                self.split.genesys,
            )
        except JtrackError as exc:
            self.failure = _Failure.of(self.split.i, self.split.first_row + self.rows, exc)
            return
        rows = conform_rows(frame, 0)
        del frame
        self.breaks.add(self.split.first_row + self.rows, rows.get_column(SRC_LINE))
        sink.add(rows, self.inp, self.split.first_row + self.rows)
        self.piece.write(SegmentWriter.table(rows))
        self.rows += rows.height
        self.stats.add(st)

    def close(self) -> _Result:
        piece = str(self.piece.close())
        stats = self.stats
        return _Result(
            self.split.i,
            "split",
            rows=self.rows,
            stats=stats,
            start=self.start,
            lines=self.lines,
            piece=piece,
            failure=self.failure,
            breaks=self.breaks.value(),
        )


def _joined(values: Any) -> bytes:
    """The bytes of a binary Arrow array, back to back (each value ends with a newline)."""
    import pyarrow as pa

    buffers = values.buffers()
    width = pa.int64() if pa.types.is_large_binary(values.type) else pa.int32()
    offsets = pa.Array.from_buffers(
        width, len(values) + 1, [None, buffers[1]], offset=values.offset
    )
    lo, hi = offsets[0].as_py(), offsets[len(values)].as_py()
    data = buffers[2]
    return data[lo:hi].to_pybytes() if data is not None else b""


def _overlong(batch: Any, first: int) -> pl.DataFrame | None:
    """The lines of a batch longer than max_line_bytes (their head only came from Spark), as
    jtrack.read.jsonl._decode_lines takes them: line number, the head, the length in bytes
    (without a final carriage return or a leading byte-order mark, as _lines_frame strips
    them before the length is checked)."""
    heads = pl.from_arrow(batch.select(["h", "cr"]))
    assert isinstance(heads, pl.DataFrame)
    long = heads.with_row_index("k").filter(pl.col("h").is_not_null())
    if long.height == 0:
        return None
    sizes = pl.Series(batch.column("n")).gather(long.get_column("k"))
    out = []
    for (k, head, cr), size in zip(long.iter_rows(), sizes.to_list(), strict=True):
        bom = head.startswith(_UTF8_BOM)
        text = head[3:] if bom else head
        if cr and len(head) == size:  # the whole line came: its final CR is no part of it
            text = text[:-1]
        out.append(
            (
                first + k,
                shown_head(text)[:_RAW_KEEP],
                size - (1 if cr else 0) - (3 if bom else 0),
            )
        )
    return pl.DataFrame(
        out, schema={SRC_LINE: pl.Int64, "line": pl.String, "_size": pl.Int64}, orient="row"
    )


def _text_task(
    ctx: _Ctx,
    splits: dict[tuple[str, int], _Split],
    inputs: dict[int, _Input],
    batches: Iterator[Any],
) -> Iterator[Any]:
    """A Spark task over lines of JSON lines files (one or more splits, in order)."""
    pid = _pyspark("pyspark").TaskContext.get().partitionId()
    sink = _Sink(ctx, f"t{pid:06d}")
    results: list[_Result] = []
    cur: _SplitReader | None = None
    key: tuple[str, int] | None = None
    for batch in batches:
        keys = pl.from_arrow(batch.select(["f", "b"]))
        assert isinstance(keys, pl.DataFrame)
        runs = keys.select(pl.struct("f", "b").rle().alias("r")).unnest("r")
        start = 0
        for n, value in runs.iter_rows():
            if (value["f"], value["b"]) != key:
                if cur is not None:
                    results.append(cur.close())
                key = (value["f"], value["b"])
                split = splits[key]
                cur = _SplitReader(ctx, split, key[1], inputs[split.i])
            assert cur is not None
            try:
                cur.feed(batch.slice(start, n), sink)
            except JtrackError as exc:  # the stage cannot be written (a full disk)
                cur.failure = _Failure.of(cur.split.i, -1, exc)
            start += n
    if cur is not None:
        results.append(cur.close())
    sink.flush()
    yield _payload(results)


def _file_task(ctx: _Ctx, tasks: list[tuple[Any, ...]], batches: Iterator[Any]) -> Iterator[Any]:
    """A Spark task running planned tasks by number (one per partition)."""
    for batch in batches:
        for t in batch.column(0).to_pylist():
            try:
                results = _run_task(ctx, tasks[t], f"f{t:06d}")
            except JtrackError as exc:  # the stage or a segment cannot be written
                i = tasks[t][1].i
                results = [_Result(i, "failed", failure=_Failure.of(i, -1, exc))]
            yield _payload(results)


def _run_task(ctx: _Ctx, task: tuple[Any, ...], tag: str) -> list[_Result]:
    kind, inp = task[0], task[1]
    if kind == "file":
        return [_read_whole(ctx, inp, tag)]
    if kind == "copy":
        try:
            copy_segment(inp.src.path, Path(inp.seg_path))
        except JtrackError as exc:
            return [_Result(inp.i, "copy", failure=_Failure.of(inp.i, -1, exc))]
        return [_Result(inp.i, "copy")]
    if kind == "range":
        start, length = task[2], task[3]
        try:
            chunk = passthrough_range(inp.src, ROW_COLUMNS, start, length)
        except JtrackError as exc:
            return [_Result(inp.i, "range", start=start, failure=_Failure.of(inp.i, start, exc))]
        sink = _Sink(ctx, tag)
        sink.add(chunk.rows, inp, start)
        sink.flush()
        breaks = LineBreaks()
        breaks.add(start, chunk.rows.get_column(SRC_LINE))
        return [
            _Result(
                inp.i,
                "range",
                rows=chunk.rows.height,
                stats=chunk.stats,
                start=start,
                canonical=chunk.canonical,
                breaks=breaks.value(),
            )
        ]
    if kind == "merge":
        _merge(task[2], Path(inp.seg_path))
        return []
    if kind == "reencode":
        _reencode_segment(inp.src, ctx.chunk_rows, ctx.max_line_bytes, Path(inp.seg_path))
        return []
    raise AssertionError(kind)


def _read_whole(ctx: _Ctx, inp: _Input, tag: str) -> _Result:
    """A whole input, read by the local engine's own code (the segment written as it does)."""
    sink = _Sink(ctx, tag)
    row = 0
    stats: FileStats | None = None
    failure = None
    breaks = LineBreaks()
    try:
        for rows, st in _reencoded_chunks(
            inp.src, ctx.chunk_rows, ctx.max_line_bytes, Path(inp.seg_path)
        ):
            breaks.add(row, rows.get_column(SRC_LINE))
            sink.add(rows, inp, row)
            row += rows.height
            stats = st
    except JtrackError as exc:
        failure = _Failure.of(inp.i, row, exc)
    sink.flush()
    return _Result(inp.i, "file", rows=row, stats=stats, failure=failure, breaks=breaks.value())


def _merge(pieces: list[str], target: Path) -> None:
    """Segment pieces joined, in order, into one segment file."""
    import pyarrow.parquet as pq

    segment = SegmentWriter(target)
    try:
        for piece in pieces:
            for batch in pq.ParquetFile(arrow_path(piece)).iter_batches(
                batch_size=SEGMENT_ROW_GROUP
            ):
                segment.write(batch)
        segment.close()
    except OSError as exc:  # (a piece that cannot be read back: the disk, as a write's)
        raise disk_error(target, exc) from exc
    finally:
        segment.abort()
    for piece in pieces:
        Path(piece).unlink(missing_ok=True)


def _payload(results: Any) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_pydict(
        {"p": [pickle.dumps(results)]}, pa.schema([("p", pa.binary())])
    )


# ---------------------------------------------------------------------------- running units


class _StagedRows(UnitRows):
    """Accepted rows staged by reading tasks: Parquet files, one row group per unit."""

    def __init__(self, ranges: list[tuple[int, int]], stage: Path) -> None:
        super().__init__(ranges, None)
        self.root = stage

    def files(self) -> list[str]:
        return sorted(str(p) for p in (self.root / "rows").glob("*.parquet"))

    def peek(self, u: int) -> pl.LazyFrame:
        return _unit_rows(self.files(), u).lazy()

    def rows(self, u: int) -> pl.DataFrame:
        return _unit_rows(self.files(), u)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _unit_rows(files: list[str], u: int) -> pl.DataFrame:
    """A unit's staged rows in input order (as the local engine hands them over)."""
    if not files:
        return pl.DataFrame(schema=UNIT_SCHEMA)
    rows = (
        pl.scan_parquet(files, glob=False)
        .filter(pl.col("_unit") == u)
        .drop("_unit")
        .collect(engine="in-memory")
    )
    return rows.sort("_pos").cast(pl.Schema(UNIT_SCHEMA))


def _unit_task(jobs: list[UnitJob], files: list[str], batches: Iterator[Any]) -> Iterator[Any]:
    """A Spark task running work units by number: jtrack's kernel on the unit's rows."""
    for batch in batches:
        for u in batch.column(0).to_pylist():
            try:
                out: Any = (u, run_unit(jobs[u], _unit_rows(files, u)))
            except JtrackError as exc:
                out = (u, _Failure.of(u, -1, exc))
            yield _payload(out)


# ---------------------------------------------------------------------------- the engine


class SparkEngine:
    """Reads inputs and runs units as Spark tasks (see the module's docstring)."""

    name = "spark"

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        # (pyspark is imported when the session starts: a missing or broken one is an
        # ImportError here, which `jtrack.engine.run.engine_for` turns into the install hint)
        _pyspark("pyspark")
        _pyspark("pyspark.sql")
        master = options.spark_master or os.environ.get("SPARK_MASTER")
        if master and "PYSPARK_GATEWAY_PORT" not in os.environ:  # (spark-submit: its own)
            check_master(master, "--spark-master" if options.spark_master else "$SPARK_MASTER")

    def session(self) -> Any:
        return spark_session(self.options.spark_master)

    # ------------------------------------------------------------------ read

    @_ctrl_c()  # (a context manager made by contextmanager decorates: one per call)
    def read(
        self,
        sources: list[tuple[Source, Identity]],
        writer: VersionWriter,
        *,
        first_segment: int,
        run: int,
        buckets: int,
        ranges: list[tuple[int, int]],
        options: RunOptions,
        chunk_rows: int,
        progress: ProgressFn,
        src_offset: int,
        erasure: Erasure | None = None,
    ) -> NewData:
        if erasure is not None and erasure.visitors and sources:
            raise UsageError(
                "--engine spark does not drop the rows of visitors erased from this store "
                "(jtrack store erase) as it reads",
                hint="run this store with the local engine (the default)",
            )
        stage = writer.path(STAGE)
        for sub in ("rows", "ids", "rejects", "pieces"):
            (stage / sub).mkdir(parents=True, exist_ok=True)
        ctx = _Ctx(
            stage=str(stage),
            buckets=buckets,
            starts=[lo for lo, _ in ranges],
            max_line_bytes=options.max_line_bytes,
            chunk_rows=chunk_rows,
            src_offset=src_offset,
        )
        total = sum(fp.nbytes for _, fp in sources)
        progress(ProgressUpdate("reading", files_total=len(sources), bytes_total=total))
        block = max(chunk_rows * JSON_LINE_BYTES, MIN_BLOCK_BYTES)
        plan: list[_Input] = []
        results: list[_Result] = []
        for i, (src, fp) in enumerate(sources):
            seg_name, seg_path = writer.segment_path(first_segment + i)
            inp = _Input(i, src, first_segment + i, seg_name, str(seg_path), "file", fp)
            try:
                _classify(inp, options.max_line_bytes, block)
            except OSError as exc:
                inp.how = "failed"
                results.append(
                    _Result(i, "file", failure=_Failure.of(i, -1, _open_error(src.name, exc)))
                )
            except JtrackError as exc:
                inp.how = "failed"
                results.append(_Result(i, "file", failure=_Failure.of(i, -1, exc)))
            plan.append(inp)
        tasks: list[tuple[Any, ...]] = []
        weights: list[float] = []  # about how long each task takes (bytes it reads)
        for inp in plan:
            size = inp.fp.nbytes if inp.fp is not None else 0
            if inp.how == "driver":
                results.append(_read_whole(ctx, inp, f"d{inp.i:06d}"))
            elif inp.how == "file":
                tasks.append(("file", inp))
                weights.append(size)
            elif inp.how == "passthrough":
                try:
                    parts = passthrough_ranges(inp.src, chunk_rows)
                except JtrackError as exc:
                    results.append(_Result(inp.i, "range", failure=_Failure.of(inp.i, -1, exc)))
                    continue
                tasks.append(("copy", inp))
                weights.append(size / 4)
                rows = max(1, sum(n for _, n in parts))
                for start, length in parts:
                    tasks.append(("range", inp, start, length))
                    weights.append(size * length / rows)
        texts = [inp for inp in plan if inp.how == "text"]
        splits: dict[tuple[str, int], _Split] = {}
        if texts or tasks:
            spark = self.session()
            if texts:
                _check_split_size(spark)
            # both passes over the text must see the same splits: Spark sizes them by the
            # cores it has, which may change on a cluster meanwhile
            with _conf(spark, "spark.sql.files.minPartitionNum", _parallelism(spark)):
                frames = []
                if texts:
                    splits, frame = self._text_frame(spark, ctx, texts)
                    frames.append(frame)
                if tasks:
                    frames.append(_task_frame(spark, ctx, tasks, weights))
                for found in self._collect(reduce(lambda a, b: a.union(b), frames)):
                    results += found
        new = NewData(
            units=_StagedRows(ranges, stage),
            ids=_staged(stage / "ids", ID_SCHEMA),
            rejects=_no_rejects(),
        )
        rejects = _staged(stage / "rejects", None)
        if rejects.height:
            new.rejects = rejects.select(_REJECT_COLUMNS)
        _stop_at_first_failure(results, rejects, first_segment, options)
        self._segments(plan, results, splits, ctx, new, run)
        progress(
            ProgressUpdate(
                "reading",
                files_done=len(sources),
                files_total=len(sources),
                bytes_done=total,
                bytes_total=total,
                rows=new.rows_read,
            )
        )
        return new

    def _text_frame(
        self, spark: Any, ctx: _Ctx, texts: list[_Input]
    ) -> tuple[dict[tuple[str, int], _Split], Any]:
        """The first pass over the JSON lines files (lines and rows of every split, counted
        in the JVM), and the second as a frame of tasks that read them."""
        F = _pyspark("pyspark.sql.functions")
        lines = (
            spark.read.option("lineSep", "\n")
            .option("recursiveFileLookup", "true")  # no partition discovery from the paths
            .option("ignoreCorruptFiles", "false")  # whatever the cluster's defaults say
            .option("ignoreMissingFiles", "false")
            .text([inp.path for inp in texts])
        )
        cut = ctx.max_line_bytes + 4  # longer: a reject whatever a \r or BOM at its ends
        size = F.octet_length("value")
        is_row = ~F.col("value").rlike(_BLANK) | (size > F.lit(cut))
        counts = (
            lines.select(
                F.col("_metadata.file_path").alias("f"),
                F.col("_metadata.file_block_start").alias("b"),
                F.when(is_row, 1).otherwise(0).alias("r"),
            )
            .groupBy("f", "b")
            .agg(F.count(F.lit(1)).alias("lines"), F.sum("r").alias("rows"))
        )
        by_path = {inp.path: inp for inp in texts}
        per_file: dict[int, list[tuple[str, int, int, int]]] = {}
        for f, b, n_lines, n_rows in self._rows(counts):
            path = os.path.normpath(unquote(urlparse(f).path))
            if path not in by_path:
                raise RuntimeError(f"Spark read {f}, which jtrack did not ask for")
            per_file.setdefault(by_path[path].i, []).append((f, b, n_lines, n_rows))
        splits: dict[tuple[str, int], _Split] = {}
        for inp in texts:
            line, row = 1, 0
            for f, b, n_lines, n_rows in sorted(per_file.get(inp.i, []), key=lambda s: s[1]):
                splits[(f, b)] = _Split(
                    inp.i, inp.src.name, inp.segment, inp.genesys, line, row, n_lines, n_rows
                )
                line += n_lines
                row += n_rows
        binary = F.col("value").cast("binary")
        frame = lines.select(
            F.col("_metadata.file_path").alias("f"),
            F.col("_metadata.file_block_start").alias("b"),
            size.alias("n"),
            F.when(size > F.lit(cut), F.unhex(F.lit("0A")))
            .otherwise(F.concat(binary, F.unhex(F.lit("0A"))))
            .alias("v"),
            F.when(size > F.lit(cut), F.substring(binary, 1, 4 * _RAW_KEEP)).alias("h"),
            F.when(size > F.lit(cut), F.col("value").endswith("\r")).alias("cr"),
        )
        inputs = {inp.i: inp for inp in texts}
        return splits, frame.mapInArrow(partial(_text_task, ctx, splits, inputs), "p binary")

    def _rows(self, df: Any) -> list[Any]:
        _check_interrupt()
        try:
            return list(df.collect())
        except Exception as exc:
            _check_interrupt()  # (the job was cancelled by Ctrl-C)
            raise _job_error(exc) from None

    def _collect(self, df: Any) -> list[Any]:
        return [pickle.loads(r.p) for r in self._rows(df)]

    def _segments(
        self,
        plan: list[_Input],
        results: list[_Result],
        splits: dict[tuple[str, int], _Split],
        ctx: _Ctx,
        new: NewData,
        run: int,
    ) -> None:
        """The segments of the inputs (pieces joined, files with event types or kinds to
        canonicalise re-encoded), and the inputs' accounting."""
        by_input: dict[int, list[_Result]] = {}
        for r in results:
            by_input.setdefault(r.i, []).append(r)
        jobs: list[tuple[Any, ...]] = []
        for inp in plan:
            mine = by_input.get(inp.i, [])
            kept_as_is = False
            lines = LineBreaks()
            if inp.how == "text":
                parts = sorted((r for r in mine if r.kind == "split"), key=lambda r: r.start)
                expected = sorted(
                    (s for s in splits.values() if s.i == inp.i), key=lambda s: s.first_line
                )
                got = [(r.lines, r.rows) for r in parts]
                counted = [(s.lines, s.rows) for s in expected]
                if got != counted or (not got and inp.fp is not None and inp.fp.size):
                    raise DataError(
                        f"{inp.src.name}: the file changed while Spark read it (lines and "
                        f"rows of its splits: {counted} counted, {got} read)",
                        hint="run again once the file is complete",
                    )
                pieces = [r.piece for r in parts if r.piece is not None]
                if not pieces:
                    SegmentWriter(Path(inp.seg_path)).close()
                elif len(pieces) == 1:
                    os.replace(pieces[0], inp.seg_path)
                else:
                    jobs.append(("merge", inp, pieces))
                rows = sum(r.rows for r in parts)
                shape = ("genesys" if inp.genesys else "flat") + "-jsonl"
                stats = _summed(inp.src.name, shape, parts)
            elif inp.how == "passthrough":
                parts = sorted((r for r in mine if r.kind == "range"), key=lambda r: r.start)
                rows = sum(r.rows for r in parts)
                first = next(r.stats for r in parts if r.stats is not None)
                stats = _summed(inp.src.name, first.shape, parts)
                kept_as_is = all(r.canonical for r in parts)
                if not kept_as_is:
                    jobs.append(("reencode", inp))
            else:
                parts = [next(r for r in mine if r.kind == "file")]
                assert parts[0].stats is not None
                rows, stats = parts[0].rows, parts[0].stats
            for r in parts:  # (in row order)
                lines.extend(r.breaks)
            new.files.append(stats)
            new.segments.append(
                SegmentInfo(
                    inp.segment, inp.seg_name, rows, inp.src.name, kept_as_is, run, lines.value()
                )
            )
            new.inputs.append(_input_file(inp, stats, run))
            if stats.rows_read == 0:
                new.warnings.append(f"{inp.src.name}: the file holds no events (it is empty)")
        if jobs:
            spark = self.session()
            work = _task_frame(spark, ctx, jobs, [1.0] * len(jobs))
            for found in self._collect(work):
                for r in found:
                    if r.failure is not None:
                        raise r.failure.error()
        shutil.rmtree(Path(ctx.stage) / "pieces", ignore_errors=True)

    # ------------------------------------------------------------------ rows

    def rows_at(self, new: NewData, positions: pl.Series, columns: Sequence[str]) -> pl.DataFrame:
        assert isinstance(new.units, _StagedRows)
        files = new.units.files()
        schema = {"_pos": pl.UInt64(), **{c: UNIT_SCHEMA[c] for c in columns}}
        if not files or positions.len() == 0:
            return pl.DataFrame(schema=schema)
        return (
            pl.scan_parquet(files, glob=False)
            .filter(pl.col("_pos").is_in(positions.implode()))
            .sort("_unit", "_pos")
            .select(list(schema))
            .collect(engine="in-memory")
        )

    # ------------------------------------------------------------------ units

    @_ctrl_c()
    def run_units(self, jobs: list[UnitJob], new: NewData, progress: ProgressFn) -> UnitResult:
        assert isinstance(new.units, _StagedRows)
        spark = self.session()
        progress(ProgressUpdate("sessionizing", steps_done=0, steps_total=len(jobs)))
        work = spark.range(0, len(jobs), 1, len(jobs)).mapInArrow(
            partial(_unit_task, jobs, new.units.files()), "p binary"
        )
        done = sorted(self._collect(work), key=lambda r: r[0])
        results = UnitResult()
        for _, res in done:
            if isinstance(res, _Failure):
                raise res.error()
            results.merge(res)
        new.units.remove()
        return results


def _task_frame(spark: Any, ctx: _Ctx, tasks: list[tuple[Any, ...]], weights: list[float]) -> Any:
    """Spark tasks running `tasks`: a few per core (not one each: a task costs Spark tens of
    milliseconds), dealt largest first so that every Spark task gets a share of the big ones."""
    slots = min(len(tasks), 4 * int(spark.sparkContext.defaultParallelism))
    order = sorted(range(len(tasks)), key=lambda t: -weights[t])
    laid = [tasks[t] for k in range(slots) for t in order[k::slots]]
    return spark.range(0, len(laid), 1, slots).mapInArrow(
        partial(_file_task, ctx, laid), "p binary"
    )


@contextlib.contextmanager
def _conf(spark: Any, key: str, value: str) -> Iterator[None]:
    """A runtime setting of the session, for the time of a block."""
    before = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _check_split_size(spark: Any) -> None:
    """A UsageError for a split size Spark cannot split text files by (zero or less, from
    spark-defaults.conf or a --conf): Spark reads no split then, or fails with a message of
    its own ("step cannot be 0"), which would be taken for a file changed meanwhile."""
    key = "spark.sql.files.maxPartitionBytes"
    raw = str(spark.conf.get(key, None) or "")
    size = re.match(r"\s*([-+]?\d+)", raw)
    if size is not None and int(size.group(1)) <= 0:
        raise UsageError(
            f"{key} is {raw.strip()}: Spark splits files into pieces of that many bytes, "
            "and needs a size above 0",
            hint="fix it where it is set (spark-defaults.conf, --conf, or the session), or "
            "remove it for Spark's default (128m)",
        )


def _parallelism(spark: Any) -> str:
    current = spark.conf.get("spark.sql.files.minPartitionNum", None)
    return current or str(spark.sparkContext.defaultParallelism)


def _staged(folder: Path, schema: dict[str, pl.DataType] | None) -> pl.DataFrame:
    """What the reading tasks staged in `folder`, in input order (by position)."""
    files = sorted(str(p) for p in folder.glob("*.parquet"))
    if not files:
        return pl.DataFrame(schema=schema)
    return pl.read_parquet(files, glob=False).sort("_pos")


def _stop_at_first_failure(
    results: list[_Result], rejects: pl.DataFrame, first_segment: int, options: RunOptions
) -> None:
    """Raise what the local engine, reading the inputs in order, would have raised: the
    first file-level error, or with on_error=fail the first rejected row before it."""
    failures = [r.failure for r in results if r.failure is not None]
    first = min(failures, key=lambda f: (f.i, f.row)) if failures else None
    if options.on_error == "fail" and rejects.height:
        bad = rejects.row(0, named=True)
        at = (int(bad["_pos"]) >> 32) - first_segment, int(bad["_pos"]) & 0xFFFFFFFF
        if first is None or at < (first.i, first.row):
            raise rejected_row_error(bad)
    if first is not None:
        raise first.error()


def _input_file(inp: _Input, stats: FileStats, run: int) -> InputFile:
    assert inp.fp is not None
    return input_file(inp.src.name, inp.fp, stats, run, inp.segment)


def _job_error(exc: BaseException) -> JtrackError:
    """A Spark job that failed (a worker crashed, ran out of memory, ...): one line, and the
    JVM's log it names kept. A module the executors' Python lacks is a set-up problem."""
    text = str(exc).strip()
    log = jvm_log()
    _keep_jvm_log()
    see = f"see the JVM's log {log}" if log else "see the Spark driver's and executors' logs"
    missing = re.search(r"ModuleNotFoundError: No module named '([^']+)'", text)
    if missing:
        python = os.environ.get("PYSPARK_PYTHON")
        return UsageError(
            f"the executors' Python cannot import {missing.group(1)}",
            hint="install jtrack (pip install 'jtrack[spark]') for the Python that runs Spark's "
            + (f"tasks, PYSPARK_PYTHON={python}" if python else "tasks (PYSPARK_PYTHON)")
            + f"; {see}",
        )
    return DataError(f"the Spark job failed ({_java_cause(text, exc)[:300]})", hint=see)


#: Lines of a Java stack trace that say nothing of the error: its frames.
_FRAME = re.compile(r"^\s*(at |\.\.\. \d+ more|\.\.\. \d+ common frames omitted)")
_THROWN = re.compile(r"^[\w.$]+(?:Exception|Error)\b")


def _java_cause(text: str, exc: BaseException) -> str:
    """What a failed job's error says happened: its deepest `Caused by:` (the root cause:
    Checksum error, OutOfMemoryError), else its last line that begins with an exception's
    name (a Python traceback's error comes last, after its `raise` lines), else its first
    line that is no stack frame (never `... 20 more` or a frame)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    said = [line for line in lines if not _FRAME.match(line)]
    causes = [line[len("Caused by:") :].strip() for line in said if line.startswith("Caused by:")]
    if causes:
        return causes[-1]
    thrown = [line for line in said if _THROWN.match(line)]
    if thrown:
        return thrown[-1]
    return (said or [type(exc).__name__])[0]


# ---------------------------------------------------------------------------- spark-submit


def main(argv: list[str] | None = None) -> None:
    """The jtrack CLI with `--engine spark`: `python -m jtrack.engine.spark sessionize ...`,
    or the same file given to spark-submit (which then owns the SparkSession)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "sessionize" in args and not any(a == "--engine" or a.startswith("--engine=") for a in args):
        at = args.index("sessionize") + 1
        args[at:at] = ["--engine", "spark"]
    fmt = _data_to_stdout(args)
    if fmt is not None and _streams_merged():
        from jtrack.commands._common import error_line
        from jtrack.errors import ExitCode

        error_line(
            f"-f {fmt} to standard output: under spark-submit jtrack's messages would land in "
            "the data (spark-submit merges the stderr of its Python into stdout) (hint: write "
            "the data to a file with -o FILE)"
        )
        sys.exit(int(ExitCode.USAGE))
    from jtrack.cli import main as cli

    cli(args)


def _streams_merged() -> bool:
    """Started by spark-submit, whose PythonRunner gives its Python one pipe for stdout and
    stderr: whatever jtrack says on stderr lands among the data on stdout."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return False
    try:
        out, err = os.fstat(1), os.fstat(2)
    except OSError:
        return False
    return stat.S_ISFIFO(out.st_mode) and (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino)


def _data_to_stdout(args: list[str]) -> str | None:
    """The data format (not the aligned table) a command is told to write to stdout: -f
    given, and -o not given or naming a standard stream (None: no such format, or a file)."""
    from jtrack.cli import output_options

    given = dict(output_options(args))  # (the last of each)
    fmt = given.get("--format")
    if given.get("--output", "-") not in _STANDARD_STREAMS or not fmt or fmt.lower() == "table":
        return None
    return fmt


#: What -o names that is the process's standard output or error (merged under spark-submit).
_STANDARD_STREAMS = frozenset(
    [
        "-",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/fd/1",
        "/dev/fd/2",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
    ]
)


if __name__ == "__main__":
    # run as a file (spark-submit): this folder is not a place for top-level modules
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    main()
