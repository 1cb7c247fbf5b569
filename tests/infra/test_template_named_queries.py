"""The analysts' saved queries: one Athena named query in template.yaml per queries/named/*.sql, with
the file's SQL, in the analysts' workgroup and the stage's Glue database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forecourt import named_queries


def test_each_named_query_file_is_a_named_query_of_the_analysts_workgroup_with_its_sql(
    sam_template: dict[str, Any], repo_root: Path
) -> None:
    declared = {
        name: resource["Properties"]
        for name, resource in sam_template["Resources"].items()
        if resource["Type"] == "AWS::Athena::NamedQuery"
    }
    files = sorted((repo_root / "queries" / "named").glob("*.sql"))

    assert len(files) >= 5
    assert sorted(declared) == sorted(named_queries.NamedQuery(f.stem, "").logical_id for f in files)
    for path in files:
        properties = declared[named_queries.NamedQuery(path.stem, "").logical_id]
        assert properties["QueryString"] == named_queries.normalized(path.read_text(encoding="utf-8"))
        assert properties["Name"] == path.stem
        assert properties["Database"] == {"Ref": "GlueDatabase"}
        assert properties["WorkGroup"] == {"Ref": "AnalystWorkGroup"}
        assert 0 < len(properties["Description"]) <= 1024
