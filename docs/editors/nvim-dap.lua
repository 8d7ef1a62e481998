-- async-inspect in Neovim with nvim-dap (https://github.com/mfussenegger/nvim-dap).
-- Put this in your config (e.g. ~/.config/nvim/after/plugin/async-inspect.lua), then
-- :DapContinue in a Rust buffer and pick a configuration. Every task shows as a thread in the
-- threads widget, its stack is its await chain; :DapPause takes a new snapshot.
local dap = require("dap")

dap.adapters["async-inspect"] = {
  type = "executable",
  command = "async-inspect",
  args = { "dap" },
}

dap.configurations.rust = vim.list_extend(dap.configurations.rust or {}, {
  {
    type = "async-inspect",
    request = "attach",
    name = "async-inspect: attach",
    pid = require("dap.utils").pick_process,
  },
  {
    type = "async-inspect",
    request = "launch",
    name = "async-inspect: launch",
    program = function()
      return vim.fn.input("Program: ", vim.fn.getcwd() .. "/target/debug/", "file")
    end,
    args = {},
    cwd = "${workspaceFolder}",
  },
})

-- The custom event with the wait-for graph's cycles: print them.
dap.listeners.after["event_asyncInspect/deadlock"]["async-inspect"] = function(_, body)
  for _, cycle in ipairs(body.cycles or {}) do
    local names = {}
    for _, task in ipairs(cycle.tasks) do
      table.insert(names, task.name)
    end
    vim.notify((cycle.futurelock and "futurelock: " or "deadlock: ") .. table.concat(names, " -> "),
      vim.log.levels.WARN)
  end
end
