// The auto-escaping template: text is always text, only html`` results are markup.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHtml, html, SafeHtml } from '@devicegate/verification-ui';

test('interpolated strings are escaped in content and in quoted attributes', () => {
  const name = `<script>alert('x')</script> & "quoted"`;
  assert.equal(
    html`<p title="${name}">${name}</p>`.toString(),
    '<p title="&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;</p>',
  );
});

test('nested templates stay markup and their own values stay escaped', () => {
  const inner = html`<strong>${'<b>'}</strong>`;
  assert.equal(html`<p>${inner}</p>`.toString(), '<p><strong>&lt;b&gt;</strong></p>');
});

test('arrays are joined item by item with the same rules', () => {
  const items = ['<a>', html`<li>${'&'}</li>`, 3];
  assert.equal(html`<ul>${items}</ul>`.toString(), '<ul>&lt;a&gt;<li>&amp;</li>3</ul>');
});

test('null, undefined and false render nothing; true and numbers render as text', () => {
  assert.equal(html`[${null}${undefined}${false}|${true}${0}]`.toString(), '[|true0]');
});

test('a string that looks like markup is never trusted, even one made from an html`` result', () => {
  const markupAsString = html`<em>x</em>`.toString();
  assert.equal(html`${markupAsString}`.toString(), '&lt;em&gt;x&lt;/em&gt;');
  assert.ok(html`` instanceof SafeHtml);
  assert.equal(escapeHtml(`&<>"'`), '&amp;&lt;&gt;&quot;&#39;');
});
