"""The static leaderboard and the submission flow.

standard   the versioned leaderboard standard (standard.yaml): pinned judge per task, standard suites
runs       reading run directories (local runs and ingested submissions) cheaply
table      rows per model x defense, cells per benchmark x modality group, references and separation reasons
overhead   generation-time ratio against the `none` run on the same samples
media      thumbnails and media copies for the sample browser (allowed roots, format checks)
runpage    the page per run (provenance, bars, sample browser data embedded inertly)
scatter    geometry of the safety-utility scatter
export     leaderboard.json and leaderboard.csv
build      `harness leaderboard build`
bundle     submission bundles: write, verify, ingest (`harness leaderboard add`)
submit     `harness submit`
cli        the subcommands
"""
