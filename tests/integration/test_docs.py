"""The man pages stay in step with the binary: every configuration key,
command, option and exit status of --help is documented, no stale key or
command is, each key's default and reloadability are right, and both pages
render without a groff warning.  (That the sample configuration lists every
key is test_config_cli.py's business.)"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import SRCDIR, run

MAN8 = os.path.join(SRCDIR, "man", "momentum-maintd.8")
MAN5 = os.path.join(SRCDIR, "man", "momentum-maintd.conf.5")
PAGES = [MAN8, MAN5]


# ---- --help ---------------------------------------------------------------

def help_sections():
    """{"Commands": [item lines], "Options": [...], "Configuration keys": [...]}:
    the lines indented by exactly two spaces under each "Heading...:" line."""
    r = run(["--help"])
    assert r.returncode == 0, r.stderr
    sections, current = {}, None
    for line in r.stdout.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            current = re.split(r"[ (:]", line, maxsplit=1)[0] if not line.startswith("Configuration keys") \
                else "Configuration keys"
            sections[current] = []
        elif not line.strip():
            current = None
        elif current is not None and re.match(r"  \S", line):
            sections[current].append(line)
    for name in ("Commands", "Options", "Configuration keys"):
        assert sections.get(name), "no %r section in --help:\n%s" % (name, r.stdout)
    sections["_text"] = r.stdout
    return sections


def help_keys():
    """{key: default} from the "Configuration keys" lines of --help."""
    keys = {}
    for line in help_sections()["Configuration keys"]:
        m = re.match(r"  (\S+)\s.*\(default \"(.*)\"\)$", line)
        assert m, "cannot read key line of --help: %r" % line
        keys[m.group(1)] = m.group(2)
    return keys


def help_commands():
    """["run", "check-config", "migrate status", ...] and their --options."""
    commands, options = [], set()
    for line in help_sections()["Commands"]:
        words = line.split()
        commands.append(" ".join(words[:2]) if words[0] == "migrate" else words[0])
        options.update(re.findall(r"--[a-z][a-z-]*", line))
    return commands, options


def help_options():
    """[["-c", "--config"], ...] from the Options section of --help."""
    opts = []
    for line in help_sections()["Options"]:
        column = re.split(r"\s{2,}", line.strip())[0]
        opts.append(re.findall(r"(?<![\w-])(--?[A-Za-z][A-Za-z-]*)", column))
    return opts


# ---- reading roff ---------------------------------------------------------

ESCAPES = [("\\-", "-"), ("\\(dq", '"'), ("\\(aq", "'"), ("\\(bu", "*"), ("\\(em", "--"),
           ("\\&", ""), ("\\c", ""), ("\\ ", " "), ("\\e", "\\")]


def plain(text):
    """Text with font changes and the escapes these pages use resolved."""
    text = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", text)
    for esc, rep in ESCAPES:
        text = text.replace(esc, rep)
    return text


def macro_args(line):
    """The arguments of a macro line, double quotes honoured."""
    args, cur, quoted, i = [], "", False, 0
    while i < len(line):
        ch = line[i]
        if ch == '"':
            if quoted and line[i + 1:i + 2] == '"':
                cur += '"'
                i += 1
            else:
                quoted = not quoted
        elif ch in " \t" and not quoted:
            if cur:
                args.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    if cur:
        args.append(cur)
    return args


def line_text(line):
    """What a source line prints: text lines as they are; font macros
    (.B .I .BR .RB .IR ...) with their arguments; other requests nothing."""
    if line.startswith(".\\\"") or line.startswith("'"):
        return ""
    if not line.startswith("."):
        return plain(line)
    m = re.match(r"\.([A-Z]{1,2})(?:\s+(.*))?$", line)
    if not m or m.group(1) not in ("B", "I", "SM", "SB", "BR", "RB", "IR", "RI", "BI", "IB"):
        return ""
    args = macro_args(m.group(2) or "")
    sep = " " if len(m.group(1)) == 1 or m.group(1) in ("SM", "SB") else ""
    return plain(sep.join(args))


def read_page(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def sections(lines):
    """{".SH name": [lines]} (subsections stay inside their section)."""
    out, current = {}, None
    for line in lines:
        if line.startswith(".SH"):
            current = plain(" ".join(macro_args(line[3:])))
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return out


def tagged_paragraphs(lines):
    """[(tag text, body text)] of the .TP paragraphs in lines; a body runs to
    the next .TP, .SS or .SH.  .TP paragraphs nested in .RS/.RE belong to
    the body they are in."""
    out, tag, body, depth = [], None, [], 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith((".SS", ".SH")) or (depth == 0 and line.strip() == ".TP"):
            if tag is not None:
                out.append((tag, " ".join(t for t in body if t)))
            tag, body, depth = None, [], 0
            if line.strip() == ".TP" and i + 1 < len(lines):
                tag = line_text(lines[i + 1]).strip()
                i += 1
        elif tag is not None:
            depth += line.startswith(".RS")
            depth -= line.startswith(".RE") and depth > 0
            body.append(line_text(line))
        i += 1
    if tag is not None:
        out.append((tag, " ".join(t for t in body if t)))
    return out


def key_entries():
    """{key: body} of the KEYS section of momentum-maintd.conf(5)."""
    keys = sections(read_page(MAN5)).get("KEYS")
    assert keys, "momentum-maintd.conf.5 has no .SH KEYS section"
    entries = {}
    for tag, body in tagged_paragraphs(keys):
        assert tag not in entries, "key %s is described twice" % tag
        entries[tag] = body
    return entries


def conf_c_flags():
    """{key: reloadable} from src/conf.c's conf_keys table (the --help
    output does not show the CK_RELOADABLE flag)."""
    with open(os.path.join(SRCDIR, "src", "conf.c"), encoding="utf-8") as f:
        src = f.read()
    m = re.search(r"conf_keys\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    assert m, "cannot find the conf_keys table in src/conf.c"
    flags = {}
    for e in re.finditer(r'\{\s*\.path\s*=\s*"([^"]+)"(.*?)(?=\{\s*\.path\s*=|\Z)', m.group(1), re.S):
        flags[e.group(1)] = re.search(r"\.flags\s*=[^,]*\bCK_RELOADABLE\b", e.group(2)) is not None
    return flags


# ---- (a) configuration keys -----------------------------------------------

def test_every_key_of_help_has_an_entry_in_the_conf_page_and_no_other():
    keys = help_keys()
    entries = key_entries()
    missing = sorted(set(keys) - set(entries))
    stale = sorted(set(entries) - set(keys))
    assert not missing, "keys of --help without a .TP/.B entry in momentum-maintd.conf.5: %s" % missing
    assert not stale, "entries in momentum-maintd.conf.5 for keys --help does not know: %s" % stale


@pytest.mark.parametrize("page", PAGES, ids=os.path.basename)
def test_every_dotted_key_named_in_bold_exists(page):
    """A key named in bold (.B lines, \\fB...\\fR) is a real key or section:
    nothing renamed or removed lingers in the pages."""
    keys = help_keys()
    valid = set(keys)
    for k in keys:
        parts = k.split(".")
        valid.update(".".join(parts[:n]) for n in range(1, len(parts)))
    top = {k.split(".")[0] for k in keys if "." in k}
    bold = []
    for line in read_page(page):
        if re.match(r"\.(B|BR|RB|BI|IB|SB)(\s|$)", line):
            # the bold arguments of alternating macros, the whole of .B
            args = macro_args(line.split(None, 1)[1] if " " in line else "")
            macro = line.split()[0][1:]
            if macro in ("B", "SB"):
                bold += args
            else:
                first_bold = macro[0] == "B"
                bold += [a for n, a in enumerate(args) if (n % 2 == 0) == first_bold]
        bold += re.findall(r"\\fB(.*?)(?=\\f[RIP]|$)", line)
    stale = set()
    for text in bold:
        for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+", plain(text)):
            if name.split(".")[0] in top and name not in valid:
                stale.add(name)
    assert not stale, "%s names keys --help does not know: %s" % (os.path.basename(page), sorted(stale))


def test_each_key_entry_gives_its_default():
    keys, entries = help_keys(), key_entries()
    wrong = []
    for key, default in keys.items():
        body = entries.get(key, "")
        m = re.search(r"Default: (\[\]|\"[^\"]*\"|[^\s.,;(]+)", body)
        if not m:
            wrong.append("%s: no \"Default:\"" % key)
            continue
        shown = m.group(1)
        if default.startswith("/"):
            # the installed path depends on configure's --prefix: compare the tail
            tail = "/".join(default.split("/")[-2:])
            ok = shown.strip('"').endswith(tail)
        else:
            ok = shown in ('"%s"' % default, default) or (default == "" and shown == "[]")
        if not ok:
            wrong.append("%s: page says %s, --help says \"%s\"" % (key, shown, default))
    assert not wrong, "defaults in momentum-maintd.conf.5 differ from --help:\n" + "\n".join(wrong)


def test_each_key_entry_says_whether_a_reload_applies_it():
    flags, entries = conf_c_flags(), key_entries()
    assert set(flags) == set(help_keys()), "could not read src/conf.c's conf_keys table"
    wrong = []
    for key, reloadable in flags.items():
        m = re.search(r"Reloadable: (yes|no)\b", entries.get(key, ""))
        if not m:
            wrong.append("%s: no \"Reloadable: yes|no\"" % key)
        elif (m.group(1) == "yes") != reloadable:
            wrong.append("%s: page says %s, conf_keys says %s" % (key, m.group(1), "yes" if reloadable else "no"))
    assert not wrong, "reloadability in momentum-maintd.conf.5 differs from CK_RELOADABLE:\n" + "\n".join(wrong)


def test_each_key_entry_names_its_environment_variable():
    entries = key_entries()
    wrong = []
    for key in help_keys():
        var = "MOMENTUM_MAINTD_" + key.replace(".", "_").upper()
        if "Environment: " + var not in entries.get(key, ""):
            wrong.append("%s: expected \"Environment: %s\"" % (key, var))
    assert not wrong, "\n".join(wrong)


# ---- (b) commands, options, exit codes --------------------------------------

def test_every_command_of_help_is_described_in_section_8():
    commands, command_options = help_commands()
    page = sections(read_page(MAN8))
    assert "COMMANDS" in page and "SYNOPSIS" in page, "momentum-maintd.8 needs SYNOPSIS and COMMANDS"
    tags = [tag for tag, _ in tagged_paragraphs(page["COMMANDS"])]
    synopsis = re.sub(r"\s+", " ", " ".join(line_text(l) for l in page["SYNOPSIS"]))
    for cmd in commands:
        assert any(re.match(re.escape(cmd) + r"(\s|$)", t) for t in tags), \
            "command %r of --help has no .TP entry under COMMANDS in momentum-maintd.8 (tags: %s)" % (cmd, tags)
        assert cmd in synopsis, "command %r of --help is not in the SYNOPSIS of momentum-maintd.8" % cmd
    documented = {" ".join(t.split()[:2]) if t.startswith("migrate ") else t.split()[0] for t in tags}
    stale = documented - set(commands)
    assert not stale, "momentum-maintd.8 describes commands --help does not list: %s" % sorted(stale)
    text = " ".join(line_text(l) for l in page["COMMANDS"])
    for opt in command_options:
        assert opt in text, "command option %s of --help is not described under COMMANDS" % opt


def test_every_option_of_help_is_described_in_section_8():
    tags = [tag for tag, _ in tagged_paragraphs(sections(read_page(MAN8)).get("OPTIONS", []))]
    for names in help_options():
        assert any(all(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(n), t) for n in names) for t in tags), \
            "option %s of --help has no .TP entry under OPTIONS in momentum-maintd.8" % ", ".join(names)


def test_exit_codes_of_help_and_readme_are_described_in_section_8():
    h = help_sections()["_text"]
    codes = set(re.findall(r"\b(\d+) [a-z]", h[h.index("Exit status:"):]))
    with open(os.path.join(SRCDIR, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    table = readme[readme.index("## Exit codes"):]
    table = table[:table.find("\n## ")] if "\n## " in table else table
    codes |= set(re.findall(r"^\| (\d+) \|", table, re.M))
    codes |= {"75", "130"}  # run-job's "another instance is running it"; an interrupted one-shot command
    tags = {tag for tag, _ in tagged_paragraphs(sections(read_page(MAN8)).get("EXIT STATUS", []))}
    missing = sorted(codes - tags, key=int)
    assert not missing, "exit codes without a .TP entry under EXIT STATUS in momentum-maintd.8: %s" % missing


def man_command_exit_codes():
    """{"run": {"0", "65", ...}, "migrate up": ...}: the numbers each COMMANDS
    entry of momentum-maintd.8 gives from its first "exits" on ("128 plus
    the signal number" is arithmetic, not a code)."""
    out = {}
    for tag, body in tagged_paragraphs(sections(read_page(MAN8))["COMMANDS"]):
        words = tag.split()
        cmd = " ".join(words[:2]) if words[0] == "migrate" else words[0]
        m = re.search(r"[Ee]xits\b", body)
        assert m, "the COMMANDS entry %r of momentum-maintd.8 gives no exit status" % tag
        out[cmd] = set(re.findall(r"\b(\d{1,3})\b(?! plus)", body[m.start():]))
    return out


def readme_command_exit_codes():
    """{"run": {"0", "65", ...}, "run-job": ...} from the exit column of the
    README's command table; commands with several rows (run-job NAME) have
    the codes each row gives."""
    with open(os.path.join(SRCDIR, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    table = readme[readme.index("## Commands"):]
    table = table[:table.find("\n## ")]
    rows = {}
    for line in table.splitlines():
        m = re.match(r"\| `([^`]+)`[^|]*\|.*\| ([^|]*) \|$", line)
        if not m:
            continue
        words = m.group(1).split()
        cmd = " ".join(words[:2]) if words[0] == "migrate" else words[0]
        rows.setdefault(cmd, []).append(set(re.findall(r"\b\d+\b", m.group(2))))
    return rows


def test_readme_command_table_gives_the_exit_codes_of_section_8():
    man, readme = man_command_exit_codes(), readme_command_exit_codes()
    assert set(readme) == set(man), "commands of the README's table %s, of momentum-maintd.8 %s" % (
        sorted(readme), sorted(man))
    wrong = []
    for cmd, codes in sorted(man.items()):
        for row in readme[cmd]:
            if row != codes:
                wrong.append("%s: README %s, momentum-maintd.8 %s" % (
                    cmd, ", ".join(sorted(row, key=int)), ", ".join(sorted(codes, key=int))))
    assert not wrong, "exit codes differ:\n" + "\n".join(wrong)


def test_the_environment_variables_are_described_in_section_8():
    tags = " ".join(tag for tag, _ in tagged_paragraphs(sections(read_page(MAN8)).get("ENVIRONMENT", [])))
    for var in ("MOMENTUM_MAINTD_CONFIG", "MOMENTUM_MAINTD_SECTION_KEY", "DATABASE_URL", "PGHOST",
                "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM"):
        assert var in tags, "%s has no .TP entry under ENVIRONMENT in momentum-maintd.8" % var


def test_make_install_installs_both_pages():
    with open(os.path.join(SRCDIR, "Makefile.am"), encoding="utf-8") as f:
        am = f.read().replace("\\\n", " ")
    m = re.search(r"^dist_man_MANS\s*=(.*)$", am, re.M)
    assert m, "Makefile.am has no dist_man_MANS"
    assert set(m.group(1).split()) >= {"man/momentum-maintd.8", "man/momentum-maintd.conf.5"}


# ---- (c) rendering -------------------------------------------------------

@pytest.mark.parametrize("page", PAGES, ids=os.path.basename)
def test_page_renders_without_warnings(page):
    groff = shutil.which("groff")
    if groff is None:
        pytest.fail("groff is not installed: the man page check needs Debian's groff-base "
                    "(scripts/install-deps)")
    # -ww: every warning; -z: format, print nothing; -k: preconv, as man does
    r = subprocess.run([groff, "-k", "-man", "-ww", "-z", "-Tutf8", page],
                       capture_output=True, text=True, env=dict(os.environ, LC_ALL="C.UTF-8"))
    assert r.returncode == 0 and r.stderr == "", "groff on %s:\n%s" % (page, r.stderr)
    if shutil.which("man"):
        # and as man-db shows it (its own checks on top of groff's)
        r = subprocess.run(["man", "--warnings", "-l", "-E", "UTF-8", "-Tutf8", page],
                           capture_output=True, text=True, env=dict(os.environ, LC_ALL="C.UTF-8"))
        assert r.returncode == 0 and r.stderr == "", "man on %s:\n%s" % (page, r.stderr)


def test_the_pages_are_ascii():
    """Non-ASCII would need preconv everywhere; write \\(em, \\(bu, ... instead."""
    for page in PAGES:
        with open(page, "rb") as f:
            data = f.read()
        bad = [n + 1 for n, line in enumerate(data.split(b"\n")) if any(b > 127 for b in line)]
        assert not bad, "%s: non-ASCII on lines %s" % (page, bad)
