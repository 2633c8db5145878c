-- Follows a scenario in smoke runs: every answer is counted by its status (status_201, ...),
-- for the bench to judge, and then handed to the scenario's own response(), if it has one.
-- Measured runs leave it out: a response() makes wrk parse every answer, which costs it CPU.

local scenario_response = response

function response(status, headers, body)
   count("status_" .. status)
   if scenario_response then
      scenario_response(status, headers, body)
   end
end
