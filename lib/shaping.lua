--[[
policy-extras/shaping.lua - KumoMTA's traffic shaping helper for petrel:

  local shaping = require 'policy-extras.shaping'
  kumo.on('get_egress_path_config', shaping:setup { '/etc/petrel/shaping.toml' })

Compiled into petrel (lib/policy_shaping.c registers it in package.preload
and passes H, its C helpers: warn, password_path, json_load).  The files
are read, merged and checked when setup is called, while the policy
loads: an error raises there, so petreld -n fails on it.  The handler
then only looks names up in hash tables.  petrel-policy(5), SHAPING, is
the user's side of this.
]]
local kumo = require 'kumo'
local H = ...

local mod = {}

-- Keys of a section that are the helper's, not make_egress_path's.
local SECTION_KEYS = {
  mx_rollup = 'boolean', replace_base = 'boolean', sources = 'table',
  automation = 'table',
}
-- And of a provider block.
local PROVIDER_KEYS = {
  match = 'table', replace_base = 'boolean', sources = 'table',
  automation = 'table', provider_connection_limit = 'limit',
  provider_max_message_rate = 'rate',
}
local MATCH_KINDS = { MXSuffix = true, DomainSuffix = true, HostName = true }
local SITE_EXPAND_MAX = 256	-- MX host names read back from a site name

local warned = {}
local function warn_once(what, msg)
  if not warned[what] then
    warned[what] = true
    H.warn(msg)
  end
end

local function typename(v)
  local t = type(v)
  if t == 'string' then
    return string.format("'%s'", #v > 60 and v:sub(1, 60) .. '...' or v)
  elseif t == 'number' or t == 'boolean' then
    return tostring(v)
  end
  return 'a ' .. t
end

--[[
A name as the tables are keyed: lower case, no trailing dot; an address
literal without its brackets (and "IPv6:"); ":PORT" kept apart.  So
"[192.0.2.1]:587", "192.0.2.1:587" give ("192.0.2.1", "587") and
"[192.0.2.1]", "192.0.2.1" give ("192.0.2.1", nil).
]]
local function split_name(name)
  name = name:lower()
  local host, rest = name:match('^%[(.-)%](.*)$')
  if host then
    host = host:gsub('^ipv6:', '')
    return host, rest:match('^:(%d+)$')
  end
  local h, p = name:match('^([^:]+):(%d+)$')
  if h then
    name = h
  end
  return (name:gsub('%.$', '')), p
end

local function name_key(name)
  local host, port = split_name(name)
  return port and host .. ' ' .. port or host
end
mod._name_key = name_key

--[[
The MX host names a site name stands for: KumoMTA's rollup form
("(mta5|mta6).am0.yahoodns.net", "(alt1|alt2)?.aspmx.l.google.com")
expanded label position by label position, right to left; "?" means a
name may end there.  nil when it would give more than SITE_EXPAND_MAX.
]]
local function expand_site(site)
  local host = split_name(site)
  local positions = {}
  local i, n = 1, #host
  while i <= n do
    local alts, q
    if host:sub(i, i) == '(' then
      local close = host:find(')', i, true)
      if not close then
        return { host }
      end
      alts = {}
      for a in host:sub(i + 1, close - 1):gmatch('[^|]+') do
        alts[#alts + 1] = a
      end
      i = close + 1
    else
      local stop = host:find('[.?]', i) or n + 1
      alts = { host:sub(i, stop - 1) }
      i = stop
    end
    if host:sub(i, i) == '?' then
      q = true
      i = i + 1
    end
    if host:sub(i, i) == '.' then
      i = i + 1
    end
    positions[#positions + 1] = { alts = alts, optional = q }
  end
  local done, open = {}, { '' }
  for p = #positions, 1, -1 do
    local pos, nxt = positions[p], {}
    for _, tail in ipairs(open) do
      if pos.optional and tail ~= '' then
        done[#done + 1] = tail
      end
      for _, a in ipairs(pos.alts) do
        nxt[#nxt + 1] = tail == '' and a or a .. '.' .. tail
      end
    end
    open = nxt
    if #open + #done > SITE_EXPAND_MAX then
      return nil
    end
  end
  for _, o in ipairs(open) do
    done[#done + 1] = o
  end
  return done
end
mod._expand_site = expand_site

local function ends_with(s, suffix)
  return suffix ~= '' and s:sub(-#suffix) == suffix
end

-- KumoMTA's ProviderEntry::domain_matches, the MX hosts from the site name.
local function provider_matches(prov, domain, site_name)
  local need_mx = false
  for _, m in ipairs(prov.match) do
    if m.DomainSuffix then
      if ends_with(domain, m.DomainSuffix) then
        return true
      end
    else
      need_mx = true
    end
  end
  if not need_mx or not site_name then
    return false
  end
  local hosts = expand_site(site_name)
  if not hosts or #hosts == 0 then
    return false
  end
  for _, host in ipairs(hosts) do
    local ok = false
    for _, m in ipairs(prov.match) do
      if (m.MXSuffix and ends_with(host, m.MXSuffix)) or
          (m.HostName and host == m.HostName:lower():gsub('%.$', '')) then
        ok = true
        break
      end
    end
    if not ok then
      return false
    end
  end
  return true
end
mod._provider_matches = provider_matches

-- KumoMTA's toml_table_merge_from: later keys replace earlier ones.
local function merge_params(into, from)
  for k, v in pairs(from) do
    into[k] = v
  end
end

-- PartialEntry::merge_from (and ProviderEntry's): replace_base replaces.
local function merge_entry(into, from)
  if from.replace_base then
    into.params, into.sources = {}, {}
    if from.match then
      into.match = {}
    end
  end
  merge_params(into.params, from.params)
  for name, tbl in pairs(from.sources) do
    into.sources[name] = into.sources[name] or {}
    merge_params(into.sources[name], tbl)
  end
  if from.match then
    into.match = into.match or {}
    for _, m in ipairs(from.match) do
      into.match[#into.match + 1] = m
    end
  end
end

--[[
Loading and checking.  Every error is "FILE: [SECTION] KEY: what"; the
first one raises (with how many more there are), so the policy does not
load and petreld -n prints it.
]]
local Loader = {}
Loader.__index = Loader

function Loader:fail(msg)
  self.errors[#self.errors + 1] = msg
end

local function strip_prefix(msg)
  msg = tostring(msg)
  return (msg:gsub('^make_egress_path: ', ''))
end

-- The params of one section (or source) through kumo.make_egress_path.
function Loader:check_params(file, label, params)
  local ok, err = pcall(kumo.make_egress_path, params)
  if ok then
    return true
  end
  err = strip_prefix(err)
  local unknown = err:match("^unknown field '(.-)'$")
  if unknown then
    local hint = ''
    if type(params[unknown]) == 'table' and label:find('^%[') then
      hint = string.format(' (a domain section\'s name must be quoted: ' ..
          '["%s.%s"], or "." makes a table)', label:match('^%[(.-)%]'), unknown)
    end
    self:fail(string.format('%s: %s %s: unknown key (not a make_egress_path ' ..
        'field or a shaping key)%s', file, label, unknown, hint))
    return false
  end
  local key, what = err:match('^([%w_]+): (.*)$')
  if key then
    self:fail(string.format('%s: %s %s: %s', file, label, key, what))
  else
    self:fail(string.format('%s: %s: %s', file, label, err))
  end
  return false
end

-- A plain string password is a file path (KumoMTA): say when it is none.
function Loader:check_password(file, label, params)
  local pw = params.smtp_auth_plain_password
  if type(pw) ~= 'string' or pw:sub(1, 1) ~= '/' then
    return
  end
  local problem, dirs = H.password_path(pw)
  if problem == 'missing' then
    H.warn(string.format('a plain string smtp_auth_plain_password in %s %s ' ..
        'is a file path that does not exist (write { key_data = ... } for ' ..
        'an inline password)', file, label))
  elseif problem == 'outside' then
    H.warn(string.format('a plain string smtp_auth_plain_password in %s %s ' ..
        'is a file path outside [keysd] key_dirs (%s): keysd will refuse it',
        file, label, dirs))
  end
end

-- The sources sub-table: { NAME = { field = value, ... } }.
function Loader:read_sources(file, label, v)
  local sources = {}
  for name, tbl in pairs(v) do
    local slabel = string.format('%s sources.%s', label, tostring(name))
    if type(name) ~= 'string' or type(tbl) ~= 'table' then
      self:fail(string.format('%s: %s: expected a table of make_egress_path ' ..
          'fields, got %s', file, slabel, typename(tbl)))
    else
      local params = {}
      -- KumoMTA takes provider_source_selection_rate in a provider's
      -- sources only (and petrel ignores it); anywhere else it is an
      -- unknown key, reported by check_params
      local provider = label:find('^%[provider%.') ~= nil
      for k, fv in pairs(tbl) do
        if provider and k == 'provider_source_selection_rate' then
          if type(fv) ~= 'string' then
            self:fail(string.format('%s: %s: provider_source_selection_rate: ' ..
                'expected a rate string ("N/period"), got %s', file, slabel,
                typename(fv)))
          end
        else
          params[k] = fv
        end
      end
      if self:check_params(file, slabel, params) then
        self:check_password(file, slabel, params)
      end
      sources[name] = params
    end
  end
  return sources
end

function Loader:read_automation(file, label, v)
  warn_once('automation', string.format('%s %s automation: Traffic Shaping ' ..
      'Automation rules are accepted and ignored (petrel has no TSA)',
      file, label))
end

--[[
One section: its shaping keys by their type, the rest as make_egress_path
params.  nil when something is wrong (recorded).
]]
function Loader:read_section(file, label, v, keys)
  if type(v) ~= 'table' then
    self:fail(string.format('%s: %s: expected a table, got %s', file, label,
        typename(v)))
    return nil
  end
  local e = { params = {}, sources = {}, mx_rollup = true }
  local good = true
  for k, fv in pairs(v) do
    local want = keys[k]
    if want == nil then
      e.params[k] = fv
    elseif (want == 'boolean' or want == 'table') and type(fv) ~= want then
      self:fail(string.format('%s: %s %s: expected %s, got %s', file, label,
          k, want == 'boolean' and 'true or false' or 'a table', typename(fv)))
      good = false
    elseif k == 'sources' then
      e.sources = self:read_sources(file, label, fv)
    elseif k == 'automation' then
      self:read_automation(file, label, fv)
    elseif k == 'match' then
      e.match = self:read_match(file, label, fv)
      good = good and e.match ~= nil
    elseif want == 'limit' or want == 'rate' then
      local probe = {}
      probe[want == 'limit' and 'connection_limit' or 'max_message_rate'] = fv
      local ok, err = pcall(kumo.make_egress_path, probe)
      if not ok then
        self:fail(string.format('%s: %s %s: %s', file, label, k,
            (strip_prefix(err):gsub('^[%w_]+: ', ''))))
        good = false
      else
        warn_once(k, string.format('%s %s %s: accepted; petrel has no limit ' ..
            'shared across the sites of a provider, so it is ignored',
            file, label, k))
      end
    else
      e[k] = fv
    end
  end
  if not self:check_params(file, label, e.params) then
    return nil
  end
  self:check_password(file, label, e.params)
  return good and e or nil
end

function Loader:read_match(file, label, v)
  local list = {}
  if #v == 0 and next(v) ~= nil then
    v = { v }
  end
  for i, m in ipairs(v) do
    local kind, val
    if type(m) == 'table' then
      kind, val = next(m)
      if next(m, kind) ~= nil then
        kind = nil
      end
    end
    if not kind or not MATCH_KINDS[kind] or type(val) ~= 'string' then
      self:fail(string.format('%s: %s match: item %d: expected one of ' ..
          '{ MXSuffix = "..." }, { DomainSuffix = "..." }, { HostName = ' ..
          '"..." }, got %s', file, label, i, typename(m)))
      return nil
    end
    list[#list + 1] = { [kind] = val:lower() }
  end
  return list
end

-- One file's sections into the merged tables, in the file's key order.
function Loader:add_file(file, data)
  if type(data) ~= 'table' then
    self:fail(string.format('%s: expected a table of sections, got %s',
        file, typename(data)))
    return
  end
  -- a decoded file has no order of its own: take the sections sorted by
  -- name, so two names of one host ("192.0.2.1", "[192.0.2.1]") merge
  -- the same way every time
  local names = {}
  for name in pairs(data) do
    if type(name) ~= 'string' then
      self:fail(string.format('%s: section names are strings, got %s',
          file, typename(name)))
    else
      names[#names + 1] = name
    end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local v = data[name]
    if name == 'provider' then
      if type(v) ~= 'table' then
        self:fail(string.format('%s: [provider]: expected a table of ' ..
            'provider blocks, got %s', file, typename(v)))
      else
        -- by name, as the sections are: pairs() order changes from
        -- one process to the next, and the last matching provider wins
        local pnames = {}
        for pname in pairs(v) do pnames[#pnames + 1] = pname end
        table.sort(pnames, function(a, b) return tostring(a) < tostring(b) end)
        for _, pname in ipairs(pnames) do
          local pv = v[pname]
          local label = string.format('[provider.%s]', tostring(pname))
          local e = self:read_section(file, label, pv, PROVIDER_KEYS)
          if e then
            self:merge(self.providers, self.provider_order, pname, e)
          end
        end
      end
    else
      local label = string.format('[%s]', name)
      local e = self:read_section(file, label, v, SECTION_KEYS)
      if e then
        if name == 'default' then
          self:merge(self.domains, nil, 'default', e)
        elseif e.mx_rollup then
          self:merge(self.rollups, nil, name_key(name), e)
        else
          self:merge(self.domains, nil, name_key(name), e)
        end
      end
    end
  end
end

function Loader:merge(map, order, key, e)
  local cur = map[key]
  if not cur then
    self.seq = self.seq + 1
    cur = { params = {}, sources = {}, seq = self.seq }
    map[key] = cur
    if order then
      order[#order + 1] = key
    end
  end
  merge_entry(cur, e)
end

local function load_file(file)
  if type(file) ~= 'string' then
    error(string.format('shaping: file names are strings, got %s',
        typename(file)), 0)
  end
  local toml = file:match('%.toml$')
  local json = file:match('%.json$')
  if toml or not json then
    if not kumo.toml_load then
      error(string.format('%s: TOML needs kumo.toml_load, which this ' ..
          'petrel lacks', file), 0)
    end
    local ok, data = pcall(kumo.toml_load, file)
    if ok or toml then
      return ok, data
    end
    local ok2, data2 = pcall(H.json_load, file)
    if ok2 then
      return ok2, data2
    end
    return false, string.format('%s: neither TOML (%s) nor JSON (%s)', file,
        tostring(data), tostring(data2))
  end
  return pcall(H.json_load, file)
end

-- Read, check and merge the files; raises on the first error.
local function load_files(files)
  local ld = setmetatable({
    errors = {}, domains = {}, rollups = {}, providers = {},
    provider_order = {}, seq = 0,
  }, Loader)
  for _, file in ipairs(files) do
    local ok, data = load_file(file)
    if not ok then
      data = tostring(data)
      if not data:find(file, 1, true) then
        data = file .. ': ' .. data
      end
      ld:fail(data)
    else
      ld:add_file(file, data)
    end
  end
  if #ld.errors > 0 then
    local msg = ld.errors[1]
    if #ld.errors > 1 then
      msg = string.format('%s (and %d more error%s)', msg, #ld.errors - 1,
          #ld.errors > 2 and 's' or '')
      for i = 2, math.min(#ld.errors, 20) do
        H.warn(ld.errors[i])
      end
    end
    error(msg, 0)
  end
  return ld
end

--[[
The data of one setup and its handler.  The rollup sections are keyed by
name; a site learns which ones apply to it from the routing domains the
handler is called for (KumoMTA resolves each domain's MX when the files
load; petrel's policy does no DNS): a rollup section keyed by the
routing domain applies to the routing domain's site_name and is
remembered for it, so every routing domain on that site gets it from
then on; one keyed by the site name itself applies from the start.
]]
local Shaper = {}
Shaper.__index = Shaper

function Shaper:site_entries(rd_key, site_name)
  local list, seen = {}, {}
  local function add(e)
    if e and not seen[e] then
      seen[e] = true
      list[#list + 1] = e
    end
  end
  local skey = site_name and name_key(site_name)
  if skey then
    add(self.rollups[skey])
  end
  local own = self.rollups[rd_key]
  if own and skey and own.site ~= skey then
    if own.site and self.learned[own.site] then
      self.learned[own.site][own] = nil
    end
    own.site = skey
    self.learned[skey] = self.learned[skey] or {}
    self.learned[skey][own] = true
  end
  if skey and self.learned[skey] then
    for e in pairs(self.learned[skey]) do
      add(e)
    end
  end
  add(own)
  table.sort(list, function(a, b) return a.seq < b.seq end)
  return list
end

-- Each entry's params, or with source its params for that source.
local function merge_list(params, entries, source)
  for _, e in ipairs(entries) do
    local from = e.params
    if source then
      from = e.sources[source]
    end
    if from then
      merge_params(params, from)
    end
  end
end

function Shaper:params(routing_domain, egress_source, site_name)
  local params = {}
  local host, port = split_name(routing_domain)
  local rd_key = port and host .. ' ' .. port or host
  local source = egress_source or 'unspecified'

  if self.domains.default then
    merge_params(params, self.domains.default.params)
  end
  -- provider blocks match domain names, not address literals
  if not routing_domain:find('^%[') then
    local with_sources = {}
    for _, name in ipairs(self.provider_order) do
      local prov = self.providers[name]
      if provider_matches(prov, host, site_name) then
        merge_params(params, prov.params)
        if next(prov.sources) then
          with_sources[#with_sources + 1] = prov
        end
      end
    end
    merge_list(params, with_sources, source)
  end
  local sites = self:site_entries(rd_key, site_name)
  local doms = { self.domains[host] }
  if port then
    doms[#doms + 1] = self.domains[rd_key]
  end
  merge_list(params, sites)
  merge_list(params, doms)
  merge_list(params, sites, source)
  merge_list(params, doms, source)
  return params
end

local function make_shaper(files)
  local ld = load_files(files)
  -- each value was checked where it stands; make_egress_path has no
  -- rule across fields, so the merged sections need no second look
  return setmetatable({
    domains = ld.domains, rollups = ld.rollups, providers = ld.providers,
    provider_order = ld.provider_order, learned = {},
  }, Shaper)
end

--[[
shaping:setup_with_automation { extra_files = {...}, ... }: KumoMTA's
options for Traffic Shaping Automation (publish, subscribe, ...) are
accepted and ignored; its default files are not petrel's (no_default_files
is implied).  Returns { get_egress_path_config = handler, ... }.
]]
function mod:setup_with_automation(options)
  if type(options) ~= 'table' then
    error('shaping:setup_with_automation: expected a table of options, got '
        .. typename(options), 2)
  end
  local ignored = {}
  for k in pairs(options) do
    if k ~= 'extra_files' and k ~= 'no_default_files' then
      ignored[#ignored + 1] = k
    end
  end
  table.sort(ignored)
  local nonempty = false
  for _, k in ipairs(ignored) do
    local v = options[k]
    if not (type(v) == 'table' and next(v) == nil) then
      nonempty = true
    end
  end
  if nonempty then
    warn_once('automation-options', string.format('shaping: %s: accepted ' ..
        'and ignored (petrel has no Traffic Shaping Automation)',
        table.concat(ignored, ', ')))
  end
  local files = options.extra_files or {}
  if type(files) == 'string' then
    files = { files }
  end
  local shaper = make_shaper(files)
  local function get_egress_path_config(routing_domain, egress_source,
      site_name, skip_make)
    local params = shaper:params(routing_domain, egress_source, site_name)
    if skip_make then
      return params
    end
    return kumo.make_egress_path(params)
  end
  return {
    get_egress_path_config = get_egress_path_config,
    setup_publish = function() end,
    _shaper = shaper,
  }
end

-- shaping:setup { files... }: the get_egress_path_config handler.
function mod:setup(extra_files)
  if type(extra_files) == 'string' then
    extra_files = { extra_files }
  end
  return self:setup_with_automation({
    extra_files = extra_files, publish = {}, subscribe = {},
  }).get_egress_path_config
end

return mod
