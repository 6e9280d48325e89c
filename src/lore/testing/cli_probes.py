"""Probes of the ``lore`` command line over knowledge bases: files, paths, queries and stores.

Each probe builds its inputs in a scratch folder, runs the real command line through a
:class:`~lore.testing.probe_harness.Cli`, and returns a
:class:`~lore.testing.probe_harness.Verdict`: the right answer, or one line that says what to
fix with exit code 2; never a file from outside the indexed folders or a lost document.
:data:`CLI_PROBES` names them all, by area.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

from lore.testing.probe_harness import LORE, MARKER, Cli, Verdict, lost, one_line_error, write

# -- files -----------------------------------------------------------------------------------


def symlink_outside(cli: Cli, scratch: Path) -> Verdict:
    secret = write(scratch / "home", {"secret.txt": f"{MARKER} private key material"})
    corpus = write(scratch / "corpus", {"note.txt": "an ordinary note"})
    (corpus / "passwd_link.txt").symlink_to(secret / "secret.txt")
    report = cli.index(corpus, scratch / "kb")
    leaked = cli.hits(MARKER, scratch / "kb", "--mode", "lexical")
    reported = any("outside the folders" in s["reason"] for s in report.get("skipped", []))
    return Verdict(not leaked and reported, f"{len(leaked)} hits for the outside file; "
                   f"reported: {reported}", lost(report, cli.documents(scratch / "kb")))


def symlink_loop(cli: Cli, scratch: Path) -> Verdict:
    corpus = write(scratch / "d", {"c.txt": f"{MARKER} beside a loop"})
    (corpus / "a.txt").symlink_to("b.txt")
    (corpus / "b.txt").symlink_to("a.txt")
    (corpus / "gone.txt").symlink_to("missing.txt")
    report = cli.index(corpus, scratch / "kb")
    found = cli.hits(MARKER, scratch / "kb", "--mode", "lexical")
    reasons = sorted(s["reason"] for s in report.get("skipped", []))
    return Verdict(len(found) == 1 and len(reasons) == 3, f"{len(found)} hit; skipped: {reasons}",
                   lost(report, cli.documents(scratch / "kb")))


def unreadable(cli: Cli, scratch: Path) -> Verdict:
    corpus = write(scratch / "corpus", {"good.txt": f"{MARKER} readable", "secret.txt": "x"})
    (corpus / "locked").mkdir()
    (corpus / "secret.txt").chmod(0)
    (corpus / "locked").chmod(0)
    try:
        done = cli("index", str(corpus), "--kb", str(scratch / "kb"), "--model", "hash",
                   "--json", ordinary_user=True)
    finally:
        (corpus / "locked").chmod(0o755)
    report = json.loads(done.stdout) if done.returncode == 0 else {}
    reasons = sorted(s["reason"] for s in report.get("skipped", []))
    ok = report.get("documents_added") == 1 and len(reasons) == 2
    return Verdict(ok, f"exit {done.returncode}; skipped: {reasons}",
                   lost(report, cli.documents(scratch / "kb")))


def odd_files(cli: Cli, scratch: Path) -> Verdict:
    bundle = "var a=" + ";".join(f"a{i}=f(a{i - 1},{i})" for i in range(1, 60_000))
    corpus = write(scratch / "corpus", {"empty.txt": "", "blob.bin": bytes(range(256)) * 64,
                                        "app.min.js": bundle,
                                        "long.txt": f"{MARKER} " + "word " * 200_000})
    report = cli.index(corpus, scratch / "kb")
    reasons = " | ".join(s["reason"] for s in report.get("skipped", []))
    done = cli("search", MARKER, "--kb", str(scratch / "kb"), "--json", "-k", "1")
    ok = ("empty file" in reasons and "minified" in reasons and len(done.stdout) < 50_000
          and done.returncode == 0)
    return Verdict(ok, f"skipped: {reasons}; one hit is {len(done.stdout):,} bytes of JSON",
                   lost(report, cli.documents(scratch / "kb")))


def jsonl_ids(cli: Cli, scratch: Path) -> Verdict:
    records = [{"_id": "2", "text": f"{MARKER} one"}, {"_id": None, "text": f"{MARKER} two"},
               {"text": f"{MARKER} three"}, {"_id": "line 3", "text": f"{MARKER} four"}]
    corpus = write(scratch / "corpus", {"c.jsonl": "\n".join(json.dumps(r) for r in records)})
    report = cli.index(corpus, scratch / "kb")
    held = cli.documents(scratch / "kb")
    return Verdict(held == 4, f"{held} of 4 records held", lost(report, held))


def hostile_names(cli: Cli, scratch: Path) -> Verdict:
    corpus = write(scratch / "corpus", {"clear\x1b[2Jscreen.txt":
                                        f"{MARKER} root:x:0:0 \x1b]0;pwned\x07 text"})
    cli.index(corpus, scratch / "kb")
    done = cli("search", MARKER, "--kb", str(scratch / "kb"))
    shown = done.stdout + done.stderr
    raw = [hex(ord(c)) for c in "\x1b\x07" if c in shown]
    return Verdict(not raw and "root:x:0:0" in shown, f"raw control characters: {raw}")


# -- paths -----------------------------------------------------------------------------------


def kb_paths(cli: Cli, scratch: Path) -> Verdict:
    corpus = write(scratch / "corpus", {"a.txt": MARKER})
    (scratch / "afile").write_text("x")
    verdicts = [one_line_error(cli("index", str(corpus), "--kb", str(scratch / "afile")),
                               "is a file"),
                one_line_error(cli("index", str(corpus), "--kb", str(scratch / "afile" / "s")),
                               "cannot create"),
                one_line_error(cli("index", str(corpus), "--kb", "/proc/lore-probe"),
                               "cannot create"),
                one_line_error(cli("search", MARKER, "--kb", str(scratch / "typo")),
                               "no knowledge base"),
                one_line_error(cli("index", str(scratch / "absent"), "--kb",
                                   str(scratch / "kb")), "absent")]
    return Verdict(all(v.passed for v in verdicts), " | ".join(v.detail for v in verdicts))


# -- queries ---------------------------------------------------------------------------------


def bad_queries(cli: Cli, scratch: Path) -> Verdict:
    kb = scratch / "kb"
    cli.index(write(scratch / "corpus", {"a.txt": f"{MARKER} text"}), kb)
    tries = [(["search", ""], "empty"), (["search", "x" * 100_000], "characters"),
             (["search", "x", "-k", "0"], "range"), (["search", "x", "--where", "colour=red"],
                                                      "unknown filter"),
             (["search", "x", "--where", "kind=weird"], "kind"),
             (["search", "x", "--where", "modified>=yesterday"], "date")]
    verdicts = [one_line_error(cli(*args, "--kb", str(kb)), word) for args, word in tries]
    failed = [args[1][:20] for (args, _), v in zip(tries, verdicts, strict=True) if not v.passed]
    return Verdict(not failed, f"not one clear line for: {failed}" if failed else
                   f"{len(tries)} bad queries, each one line with exit 2")


RARE = {"zq01good": "The orchard report covers pruning, grafting and the spring frost; the "
                    "zq01good flag marks the trees that need a second look.",
        "E4021": "Harbour logistics: cranes, berths and tides decide the unloading order, "
                 "and the yard system answers E4021 when a berth is booked twice.",
        "kbd_xq_latch": "A history of the printing press, from movable type to offset "
                        "lithography; kbd_xq_latch appears once in the appendix."}
"""Identifiers and error codes, each held by one document, as users paste them."""


def identifier_notes() -> dict[str, str]:
    """Notes by name: ``rare<i>`` holds the i-th identifier of ``RARE`` once, amid text about
    something else; thirty others share its sub-words ("good", "latch", "zq") but not it, so
    an embedder that reads the identifier as noise ranks them first."""
    notes = {f"note{i}": f"Good keyboard latch codes: error {4000 + i} is good, {i:02d} is "
             f"good, and the zq key latch flag is quite good in build {i}." for i in range(30)}
    notes.update({f"rare{i}": text for i, text in enumerate(RARE.values())})
    return notes


def rare_identifier(cli: Cli, scratch: Path) -> Verdict:
    notes = {f"{name}.txt": text for name, text in identifier_notes().items()}
    cli.index(write(scratch / "corpus", notes), scratch / "kb", model="minilm")
    firsts = {term: [Path(h["path"]).stem for h in cli.hits(term, scratch / "kb", "-k", "1")]
              for term in RARE}
    missed = {term: first for i, (term, first) in enumerate(firsts.items())
              if first != [f"rare{i}"]}
    return Verdict(not missed, f"hybrid's first hit missed: {missed}" if missed else
                   f"each of {len(RARE)} identifiers found first")


# -- stores ----------------------------------------------------------------------------------


def restored_store(cli: Cli, scratch: Path) -> Verdict:
    kb = scratch / "kb"
    cli.index(write(scratch / "first", {"dingo.txt": "The dingo is a wild dog of Australia."}),
              kb)
    backup = (kb / "lore.db").read_bytes()
    cli.index(write(scratch / "arrays", {f"array{i}.txt": f"Microarray study {i} of gene "
                                         f"expression in tumour samples." for i in range(6)}), kb)
    for name in ("lore.db", "lore.db-wal", "lore.db-shm"):
        (kb / name).unlink(missing_ok=True)
    (kb / "lore.db").write_bytes(backup)
    animals = {"okapi.txt": "The okapi is a forest giraffe of the Congo.",
               "quokka.txt": "The quokka is a small wallaby that seems to smile."}
    report = cli.index(write(scratch / "animals", animals), kb)
    firsts = [Path(h[0]["path"]).name if h else "nothing" for h in
              (cli.hits(text, kb, "--mode", "dense", "-k", "1") for text in animals.values())]
    return Verdict(firsts == list(animals), f"dense first hits after a restore: {firsts}",
                   lost(report, cli.documents(kb) - 1))


def damaged_index(cli: Cli, scratch: Path) -> Verdict:
    kb = scratch / "kb"
    cli.index(write(scratch / "corpus", {f"n{i}.txt": f"note {i} {MARKER if i == 3 else ''}"
                                         for i in range(10)}), kb)
    for name in ("bm25", "vectors"):
        live = kb / "index" / name / (kb / "index" / name / "CURRENT").read_text().strip()
        for item in live.glob("*.npy"):  # same size: all but the header overwritten
            size = item.stat().st_size
            item.write_bytes(item.read_bytes()[:128] + b"\xff" * (size - 128))
    found = {mode: cli.hits(MARKER, kb, "--mode", mode, "-k", "1")
             for mode in ("lexical", "dense", "hybrid")}
    names = {mode: Path(h[0]["path"]).name if h else "nothing" for mode, h in found.items()}
    return Verdict(set(names.values()) == {"n3.txt"}, f"first hits: {names}")


def read_only_store(cli: Cli, scratch: Path) -> Verdict:
    kb = scratch / "kb"
    corpus = write(scratch / "corpus", {"a.txt": f"{MARKER} guides ships"})
    cli.index(corpus, kb)
    paths = [kb, *kb.rglob("*")]
    for path in paths:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        search = cli("search", MARKER, "--kb", str(kb), "--json", ordinary_user=True)
        write_try = one_line_error(cli("index", str(corpus), "--kb", str(kb),
                                       ordinary_user=True), "read-only")
    finally:
        for path in paths:
            path.chmod(path.stat().st_mode | 0o200)
    found = search.returncode == 0 and json.loads(search.stdout)["hits"]
    return Verdict(bool(found) and write_try.passed,
                   f"search exit {search.returncode}; index: {write_try.detail}")


def schema_versions(cli: Cli, scratch: Path) -> Verdict:
    verdicts = []
    for version, words in ((99, "newer lore"), (-1, "no lore writes")):
        kb = scratch / f"kb{version}"
        cli.index(write(scratch / "corpus", {"a.txt": MARKER}), kb)
        with sqlite3.connect(kb / "lore.db") as db:
            db.execute(f"PRAGMA user_version = {version}")
        verdicts.append(one_line_error(cli("status", "--kb", str(kb)), words))
    return Verdict(all(v.passed for v in verdicts), " | ".join(v.detail for v in verdicts))


def racing_writers(cli: Cli, scratch: Path) -> Verdict:
    corpus = write(scratch / "corpus", {f"n{i}.txt": f"{MARKER} {i}" for i in range(5)})
    command = [*LORE, "index", str(corpus), "--kb", str(scratch / "kb"), "--model", "hash"]
    racers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]
    outputs = [racer.communicate(timeout=600) for racer in racers]
    cli.traceback |= any("Traceback" in out + err for out, err in outputs)
    codes = sorted(racer.returncode for racer in racers)
    refusals = [err for (_, err), racer in zip(outputs, racers, strict=True)
                if racer.returncode == 2]
    fair = all("another lore process is writing" in err for err in refusals)
    held = cli.documents(scratch / "kb")
    return Verdict(codes[0] == 0 and codes[1] in (0, 2) and fair and held == 5,
                   f"exit codes {codes}; {held} of 5 documents", max(0, 5 - held))


Probe = Callable[[Cli, Path], Verdict]

CLI_PROBES: dict[str, tuple[str, Probe]] = {
    "symlink outside the folder": ("files", symlink_outside),
    "symlink loop, dangling link": ("files", symlink_loop),
    "unreadable file and folder": ("files", unreadable),
    "empty, binary, minified, one-line files": ("files", odd_files),
    "JSONL records without ids": ("files", jsonl_ids),
    "escape codes in names and text": ("files", hostile_names),
    "knowledge-base paths": ("paths", kb_paths),
    "bad queries": ("queries", bad_queries),
    "a pasted identifier": ("queries", rare_identifier),
    "store restored from a backup": ("stores", restored_store),
    "index files damaged in place": ("stores", damaged_index),
    "read-only knowledge base": ("stores", read_only_store),
    "schema versions no lore wrote": ("stores", schema_versions),
    "two first-time writers": ("stores", racing_writers),
}
"""Probes of the command line over knowledge bases, by name: (area, probe)."""
