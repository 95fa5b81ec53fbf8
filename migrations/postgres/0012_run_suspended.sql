-- A run the server suspended at a shutdown (SIGTERM, an upgrade) is `suspended`: the next start
-- resumes it, as it resumes runs a crash left `running`. Only an explicit stop stops a run.
alter table runs drop constraint runs_status_check;
alter table runs add constraint runs_status_check
    check (status in ('created', 'running', 'stopping', 'stopped', 'failed', 'suspended'));
