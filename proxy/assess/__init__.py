"""The assessment of each mapped table from live traffic: the request-path collector
(`collector.py`), its Prometheus series (`metrics.py`), the price table (`prices.py`) and the
`assess` command (`command.py`). The pure parts are in translators.assess."""
