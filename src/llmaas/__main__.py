from llmaas.cli import app

app()
