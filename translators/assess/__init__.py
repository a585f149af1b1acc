"""The assessment's pure parts (docs/assessment.md): statement shapes (`shapes`), how DynamoDB
would serve a statement and what it would cost (`serving`, `items`, `units`), the figures of a
table and their merge across sidecars (`stats`), the report and its text (`report`, `render`).
The request-path collector and the command are proxy/assess/."""
