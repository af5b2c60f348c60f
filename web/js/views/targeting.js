// targeting.js - a rule editor for targeting conditions (GrowthBook's condition
// language): attribute rules (field, operator, value) joined by AND or OR, kept in
// step with an editable JSON view. Conditions the rules cannot express (nesting,
// $not, $elemMatch...) stay editable as JSON.

import { h, clear, fill, nextId } from '../dom.js';

export const OPERATORS = [
  ['$eq', 'equals'],
  ['$ne', 'does not equal'],
  ['$in', 'is one of'],
  ['$nin', 'is not one of'],
  ['$gt', 'is greater than'],
  ['$gte', 'is at least'],
  ['$lt', 'is less than'],
  ['$lte', 'is at most'],
  ['$regex', 'matches regex'],
  ['$exists', 'exists'],
  ['!$exists', 'does not exist'],
  ['$veq', 'version equals'],
  ['$vgt', 'version greater than'],
  ['$vgte', 'version at least'],
  ['$vlt', 'version less than'],
  ['$vlte', 'version at most'],
  ['$inGroup', 'is in saved group'],
  ['$notInGroup', 'is not in saved group'],
];
const OPS = new Set(OPERATORS.map((o) => o[0]));
const LIST_OPS = new Set(['$in', '$nin']);
const STRING_OPS = new Set(['$regex', '$veq', '$vgt', '$vgte', '$vlt', '$vlte', '$inGroup', '$notInGroup']);
const GROUP_OPS = new Set(['$inGroup', '$notInGroup']);

/** The saved-group keys `cond` names through $inGroup / $notInGroup. */
export function groupKeys(cond, out = new Set(), depth = 0) {
  if (!cond || typeof cond !== 'object' || depth > 64) return out;
  if (Array.isArray(cond)) {
    for (const c of cond) groupKeys(c, out, depth + 1);
    return out;
  }
  for (const [k, v] of Object.entries(cond)) {
    if (GROUP_OPS.has(k) && typeof v === 'string') out.add(v);
    else groupKeys(v, out, depth + 1);
  }
  return out;
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Text typed as a value -> JSON value: numbers, true/false/null, "quoted" strings. Digits
 * with a leading zero (007, 02134, but not 0 or 0.5) stay text: zip codes and ids, whose
 * zeros a number would lose. So do numbers a double cannot hold: 1e400 (Infinity) and
 * integers beyond 2^53 (12345678901234567890), which would be stored as null or rounded.
 */
export function parseScalar(text) {
  const t = text.trim();
  if (/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) && !/^-?0\d/.test(t)) {
    // only a number that survives the round trip: 1e400 would be Infinity (sent as null)
    // and 12345678901234567890 would lose digits; those stay text
    const n = Number(t);
    if (Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n))) return n;
    return t;
  }
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (t === 'null') return null;
  if (/^".*"$/.test(t)) {
    try {
      return JSON.parse(t);
    } catch {
      return t;
    }
  }
  return t;
}

function formatScalar(v) {
  if (typeof v === 'string') {
    // a comma would split a list item, a quote would start a quoted one: JSON-quote both
    if (/[,"]/.test(v)) return JSON.stringify(v);
    const back = parseScalar(v);
    return back === v && v.trim() === v ? v : JSON.stringify(v);
  }
  return JSON.stringify(v);
}

/** A list's text -> its items: split at commas outside "double quotes" (\" escapes). */
export function splitList(text) {
  const out = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\' && i + 1 < text.length) {
      cur += c + text[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export function parseValue(text, op) {
  if (op === '$exists' || op === '!$exists') return op === '$exists';
  if (LIST_OPS.has(op)) {
    return splitList(text)
      .map((x) => x.trim())
      .filter((x) => x !== '')
      .map(parseScalar);
  }
  if (STRING_OPS.has(op)) return text.trim();
  return parseScalar(text);
}

const ORDER_OPS = new Set(['$gt', '$gte', '$lt', '$lte']);

/**
 * What a rule's typed value is read as, when part of it is not text (a number, true, false,
 * null) and the operator compares equality: "Read as 1000 (a number)...", else ''.
 */
export function typedNote(text, op) {
  if (STRING_OPS.has(op) || ORDER_OPS.has(op) || op === '$exists' || op === '!$exists' || text.trim() === '') return '';
  const v = parseValue(text, op);
  const typed = (Array.isArray(v) ? v : [v]).filter((x) => typeof x !== 'string');
  if (!typed.length) return '';
  const kind = (x) => (x === null ? 'null' : typeof x === 'number' ? 'a number' : 'true/false');
  return `Read as ${typed.map((x) => `${JSON.stringify(x)} (${kind(x)})`).join(', ')}: "quote" a value to match it as text.`;
}

/**
 * A hint for an "equals" / "does not equal" rule whose value holds a comma ("NL, BE"): it
 * compares the whole text, commas included, which is rarely meant; "is one of" takes a
 * list. The value is never changed behind the person's back. '' when there is no comma.
 */
export function commaNote(text, op) {
  if (op !== '$eq' && op !== '$ne') return '';
  const v = parseValue(text, op);
  if (typeof v !== 'string' || !v.includes(',')) return '';
  const list = op === '$eq' ? 'is one of' : 'is not one of';
  return `This compares the whole text “${v}”, commas included. To match any of several values, choose “${list}”.`;
}

export function formatValue(v, op) {
  if (op === '$exists' || op === '!$exists') return '';
  if (Array.isArray(v)) return v.map(formatScalar).join(', ');
  if (STRING_OPS.has(op) && typeof v === 'string') return v;
  return formatScalar(v);
}

/** {combinator, rules} -> condition object. */
export function rulesToCondition(combinator, rules) {
  const clauses = rules
    .filter((r) => r.field.trim() !== '')
    .map((r) => {
      const field = r.field.trim();
      const value = parseValue(r.value, r.op);
      if (r.op === '$eq' && !isPlainObject(value) && !Array.isArray(value)) return [field, value];
      if (r.op === '!$exists') return [field, { $exists: false }];
      return [field, { [r.op]: value }];
    });
  if (clauses.length === 0) return {};
  if (combinator === 'or' && clauses.length > 1) {
    return { $or: clauses.map(([f, c]) => ({ [f]: c })) };
  }
  // AND: one object when each field appears once, else $and
  const fields = clauses.map((c) => c[0]);
  if (new Set(fields).size === fields.length) return Object.fromEntries(clauses);
  return { $and: clauses.map(([f, c]) => ({ [f]: c })) };
}

/**
 * Where each rule's value sits in the condition rulesToCondition() builds, as the API's
 * error paths name it ("targeting.country.$regex", "targeting.$or[1].country.$regex"); null
 * for a rule without an attribute (left out). A server error at that path lands beside
 * the rule's value.
 */
export function rulePaths(combinator, rules) {
  const used = rules.filter((r) => r.field.trim() !== '');
  const fields = used.map((r) => r.field.trim());
  const wrap = combinator === 'or' && used.length > 1 ? '$or' : new Set(fields).size !== fields.length ? '$and' : null;
  let k = 0;
  return rules.map((r) => {
    if (r.field.trim() === '') return null;
    const at = wrap ? `targeting.${wrap}[${k++}]` : 'targeting';
    const value = parseValue(r.value, r.op);
    const op = r.op === '!$exists' ? '$exists' : r.op;
    const scalarEq = r.op === '$eq' && !isPlainObject(value) && !Array.isArray(value);
    return `${at}.${r.field.trim()}${scalarEq ? '' : `.${op}`}`;
  });
}

function clauseRules(obj) {
  if (!isPlainObject(obj)) return null;
  const out = [];
  for (const [field, c] of Object.entries(obj)) {
    if (field.startsWith('$')) return null;
    if (isPlainObject(c)) {
      const keys = Object.keys(c);
      if (keys.length === 0 || !keys.every((k) => k.startsWith('$'))) return null; // nested equality
      for (const [op, v] of Object.entries(c)) {
        if (op === '$exists') {
          out.push({ field, op: v ? '$exists' : '!$exists', value: '' });
          continue;
        }
        if (!OPS.has(op)) return null;
        if (isPlainObject(v)) return null;
        if (Array.isArray(v) && !LIST_OPS.has(op)) return null;
        if (LIST_OPS.has(op) && (!Array.isArray(v) || v.some((x) => x !== null && typeof x === 'object'))) return null;
        out.push({ field, op, value: formatValue(v, op) });
      }
    } else if (Array.isArray(c)) {
      return null;
    } else {
      out.push({ field, op: '$eq', value: formatValue(c, '$eq') });
    }
  }
  return out;
}

/** condition -> {combinator, rules}, or null when rules cannot express it. */
export function conditionToRules(cond) {
  if (cond === null || cond === undefined) return { combinator: 'and', rules: [] };
  if (!isPlainObject(cond)) return null;
  const keys = Object.keys(cond);
  if (keys.length === 1 && (keys[0] === '$or' || keys[0] === '$and')) {
    const list = cond[keys[0]];
    if (!Array.isArray(list)) return null;
    const rules = [];
    for (const c of list) {
      const r = clauseRules(c);
      if (!r || (keys[0] === '$or' && r.length !== 1)) return null;
      rules.push(...r);
    }
    return { combinator: keys[0] === '$or' ? 'or' : 'and', rules };
  }
  const rules = clauseRules(cond);
  return rules ? { combinator: 'and', rules } : null;
}

/**
 * The editor. `initial` is the condition object; `locked` makes everything read-only;
 * `savedGroups` (optional) returns a promise of the saved groups' keys: asked once the
 * condition uses a group, it fills the group rules' suggestions and names the groups the
 * condition uses that do not exist, with a link to create each (a start would be refused).
 * Returns {el, value()} where value() is the condition or throws with a message.
 */
export function targetingEditor(initial, { locked = false, savedGroups = null } = {}) {
  let combinator = 'and';
  let rules = [];
  let complex = false;

  const parsed = conditionToRules(initial || {});
  if (parsed) ({ combinator, rules } = parsed);
  else complex = true;

  const jsonId = nextId('tgt-json');
  const json = h('textarea', {
    id: jsonId,
    class: 'code',
    rows: 5,
    spellcheck: 'false',
    readonly: locked,
    dataset: { field: 'targeting' },
  });
  json.value = JSON.stringify(initial && Object.keys(initial).length ? initial : {}, null, 2);
  const jsonMsg = h('p', { class: 'hint', id: jsonId + '-msg', 'aria-live': 'polite' });
  json.setAttribute('aria-describedby', jsonMsg.id);

  const rulesBox = h('div', { class: 'rules' });
  const comboName = nextId('combo');
  const comboAnd = h('input', { type: 'radio', name: comboName, value: 'and', id: comboName + '-and' });
  const comboOr = h('input', { type: 'radio', name: comboName, value: 'or', id: comboName + '-or' });
  const combo = h(
    'fieldset',
    { class: 'inline-radios' },
    h('legend', {}, 'Users must match'),
    h('span', { class: 'radio' }, comboAnd, h('label', { for: comboAnd.id }, 'all rules (AND)')),
    h('span', { class: 'radio' }, comboOr, h('label', { for: comboOr.id }, 'any rule (OR)'))
  );
  const addBtn = h('button', { type: 'button', class: 'btn btn-small' }, 'Add rule');

  // saved groups: suggestions for group rules, and the groups named that do not exist
  const groupListId = nextId('tgt-groups');
  const groupList = h('datalist', { id: groupListId });
  const groupMsg = h('div', { class: 'group-missing', 'aria-live': 'polite' });
  let groupKeysP = null;
  const checkGroups = async (cond) => {
    const named = [...groupKeys(cond)];
    if (!savedGroups || (!named.length && !rules.some((r) => GROUP_OPS.has(r.op)))) {
      clear(groupMsg);
      return;
    }
    if (!groupKeysP) {
      groupKeysP = Promise.resolve(savedGroups()).then((keys) => {
        for (const k of keys) groupList.append(h('option', { value: k }));
        return new Set(keys);
      }, () => null);
    }
    const have = await groupKeysP;
    clear(groupMsg);
    if (!have) return;
    const missing = [...groupKeys(currentCondition())].filter((k) => k !== '' && !have.has(k));
    if (!missing.length) return;
    groupMsg.append(h('p', { class: 'field-error' },
      `The saved group${missing.length > 1 ? 's' : ''} ${missing.map((k) => `“${k}”`).join(', ')} ${missing.length > 1 ? 'do' : 'does'} not exist: the experiment cannot start until ${missing.length > 1 ? 'they exist' : 'it exists'}. `,
      missing.map((k, i) => [i ? ', ' : '', h('a', { href: `#/saved-groups/new?key=${encodeURIComponent(k)}`, target: '_blank', rel: 'opener' }, `create “${k}”`)]),
      ' (opens in a new tab).'));
  };
  const currentCondition = () => {
    try {
      const c = JSON.parse(json.value);
      return isPlainObject(c) ? c : {};
    } catch {
      return {};
    }
  };

  // each rule's value control carries its path in the condition (rulePaths)
  const markPaths = () => {
    const paths = rulePaths(combinator, rules);
    rulesBox.querySelectorAll('.rule-row').forEach((row, i) => {
      const valIn = row.querySelector('input[aria-label$=" value"]');
      if (!valIn) return;
      if (paths[i]) valIn.dataset.field = paths[i];
      else delete valIn.dataset.field;
    });
  };

  const syncJson = () => {
    markPaths();
    const cond = rulesToCondition(combinator, rules);
    json.value = JSON.stringify(cond, null, 2);
    json.removeAttribute('aria-invalid');
    jsonMsg.textContent = '';
    checkGroups(cond);
  };

  const renderRules = () => {
    clear(rulesBox);
    comboAnd.checked = combinator === 'and';
    comboOr.checked = combinator === 'or';
    comboAnd.disabled = comboOr.disabled = locked || complex;
    addBtn.disabled = locked || complex;
    if (complex) {
      rulesBox.append(h('p', { class: 'hint' }, 'This condition is too complex for the rule editor; edit it as JSON below.'));
      return;
    }
    if (rules.length === 0) rulesBox.append(h('p', { class: 'muted' }, 'No rules: every user is eligible.'));
    rules.forEach((r, i) => {
      const n = i + 1;
      const fieldIn = h('input', { type: 'text', value: r.field, 'aria-label': `Rule ${n} attribute`, placeholder: 'attribute, e.g. country', readonly: locked, autocomplete: 'off' });
      const opSel = h('select', { 'aria-label': `Rule ${n} operator`, disabled: locked },
        OPERATORS.map(([v, label]) => h('option', { value: v, selected: v === r.op }, label)));
      const placeholder = (op) => (LIST_OPS.has(op) ? 'a, b, c' : GROUP_OPS.has(op) ? 'saved group key' : 'value');
      const valIn = h('input', { type: 'text', value: r.value, 'aria-label': `Rule ${n} value`, placeholder: placeholder(r.op), readonly: locked, autocomplete: 'off', list: GROUP_OPS.has(r.op) ? groupListId : null, hidden: r.op === '$exists' || r.op === '!$exists' });
      const rm = h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Remove rule ${n}`, disabled: locked }, '✕');
      // how the value is typed, beside it: 1e3 and true are no text
      const typed = h('p', { class: 'hint rule-typed', id: nextId('rule-typed'), 'aria-live': 'polite' });
      const showTyped = () => {
        typed.textContent = typedNote(r.value, r.op);
        typed.hidden = typed.textContent === '';
      };
      // "equals" with a comma: most likely a list meant as "is one of"; a button switches
      const comma = h('p', { class: 'hint rule-comma', id: nextId('rule-comma'), 'aria-live': 'polite' });
      const toList = h('button', { type: 'button', class: 'btn btn-small btn-quiet', disabled: locked });
      const showComma = () => {
        const note = commaNote(r.value, r.op);
        comma.hidden = note === '';
        if (!note) return;
        toList.textContent = `Use “${r.op === '$eq' ? 'is one of' : 'is not one of'}”`;
        fill(comma, note, ' ', toList);
      };
      toList.addEventListener('click', () => {
        // the quotes kept the commas inside one value: drop them so that the list splits
        const v = parseValue(r.value, r.op);
        r.op = r.op === '$eq' ? '$in' : '$nin';
        if (typeof v === 'string') r.value = v;
        renderRules();
        syncJson();
        const sel = rulesBox.querySelectorAll('.rule-row select')[i];
        if (sel) sel.focus();
      });
      showTyped();
      showComma();
      valIn.setAttribute('aria-describedby', `${typed.id} ${comma.id}`);
      fieldIn.addEventListener('input', () => { r.field = fieldIn.value; syncJson(); });
      valIn.addEventListener('input', () => { r.value = valIn.value; showTyped(); showComma(); syncJson(); });
      opSel.addEventListener('change', () => {
        r.op = opSel.value;
        showTyped();
        showComma();
        valIn.hidden = r.op === '$exists' || r.op === '!$exists';
        valIn.placeholder = placeholder(r.op);
        if (GROUP_OPS.has(r.op)) valIn.setAttribute('list', groupListId);
        else valIn.removeAttribute('list');
        syncJson();
      });
      rm.addEventListener('click', () => {
        rules.splice(i, 1);
        renderRules();
        syncJson();
        addBtn.focus();
      });
      rulesBox.append(h('div', { class: 'rule-row' },
        h('span', { class: 'rule-join', 'aria-hidden': 'true' }, i === 0 ? 'where' : combinator.toUpperCase()),
        fieldIn, opSel, valIn, rm, typed, comma));
    });
  };

  comboAnd.addEventListener('change', () => { combinator = 'and'; renderRules(); syncJson(); });
  comboOr.addEventListener('change', () => { combinator = 'or'; renderRules(); syncJson(); });
  addBtn.addEventListener('click', () => {
    rules.push({ field: '', op: '$eq', value: '' });
    renderRules();
    syncJson();
    const inputs = rulesBox.querySelectorAll('.rule-row input[type="text"]');
    if (inputs.length) inputs[inputs.length - 2].focus();
  });
  json.addEventListener('input', () => {
    let cond;
    try {
      cond = json.value.trim() === '' ? {} : JSON.parse(json.value);
    } catch (e) {
      json.setAttribute('aria-invalid', 'true');
      jsonMsg.textContent = 'Not valid JSON yet: ' + e.message;
      return;
    }
    json.removeAttribute('aria-invalid');
    if (!isPlainObject(cond)) {
      jsonMsg.textContent = 'A condition is a JSON object.';
      return;
    }
    const p = conditionToRules(cond);
    complex = !p;
    if (p) ({ combinator, rules } = p);
    jsonMsg.textContent = complex ? 'Valid JSON; the rule editor cannot show it.' : '';
    renderRules();
    markPaths();
    checkGroups(cond);
  });

  renderRules();
  markPaths();
  checkGroups(initial || {});

  const el = h(
    'div',
    { class: 'targeting' },
    combo,
    rulesBox,
    h('div', { class: 'row-actions' }, addBtn),
    h('div', { class: 'field' }, h('label', { for: jsonId }, 'Condition as JSON'), json, jsonMsg),
    groupMsg,
    groupList
  );

  return {
    el,
    value() {
      const t = json.value.trim();
      if (t === '') return {};
      let v;
      try {
        v = JSON.parse(t);
      } catch (e) {
        throw Object.assign(new Error('The targeting JSON is not valid: ' + e.message), { field: 'targeting' });
      }
      if (!isPlainObject(v)) throw Object.assign(new Error('Targeting must be a JSON object.'), { field: 'targeting' });
      return v;
    },
  };
}
