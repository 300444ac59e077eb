"""The `veo` command line: one table of its commands (`veo_cli.main`) and the commands that run the service or
work on the store directly (serve, simulator, replay, rebuild, migrate); the client commands live in `veo_client`."""
