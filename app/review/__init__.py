"""4. What a job does: fetch, analyse, publish. One module per kind of job.

`analyze`: a pull request's changed files -> the analyzer -> a check run and a review;
`merge_group`, `code_scanning` and `apply_fixes` reuse its fetching and analysis;
`publish` builds the exact payloads (pure) that the jobs send through the port.
"""
