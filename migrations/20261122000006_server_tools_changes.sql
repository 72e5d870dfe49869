-- A group that restricts every tool of a server does not see the server (SPEC S9); whether it
-- does depends on the server's tool list, so a change to the list reaches every replica's
-- cache of tool names. Refreshes that find the same tools notify nobody.
CREATE TRIGGER server_tools_listed AFTER INSERT OR DELETE ON server_tools
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_change('server_id');
CREATE TRIGGER server_tools_changed AFTER UPDATE ON server_tools
    FOR EACH ROW WHEN (OLD.tools IS DISTINCT FROM NEW.tools)
    EXECUTE FUNCTION gatehouse_notify_change('server_id');
