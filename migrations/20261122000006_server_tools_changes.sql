-- A group that restricts every tool of a server does not see the server (SPEC S9); whether it
-- does depends on the server's tool list, so a change to the list reaches every replica's
-- restriction cache like a change to the restrictions themselves.
CREATE TRIGGER server_tools_changed AFTER INSERT OR UPDATE OR DELETE ON server_tools
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_change('server_id');
