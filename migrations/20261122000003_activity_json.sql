-- Tool-call inputs and outputs are shown and exported as they came, never queried inside;
-- `json` keeps the text as sent and costs Postgres a validation instead of a conversion on
-- every insert, which matters at thousands of calls a second.
ALTER TABLE tool_calls ALTER COLUMN input TYPE json USING input::json;
ALTER TABLE tool_calls ALTER COLUMN output TYPE json USING output::json;
