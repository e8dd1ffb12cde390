/** Copy of the marketing site. Facts only: what Kraite does and how; no performance figures are claimed. */
import { html, type SafeHtml } from '../html.js';

export function landingBody(status: SafeHtml | null = null): SafeHtml {
  return html`<section class="hero">
  <p class="eyebrow">Automated trading for Binance USD-M futures</p>
  <h1>Survive the cascade.</h1>
  <p class="lead">Kraite opens laddered positions on Binance perpetual futures and manages them around the clock from your own exchange account. It is built for the day the market falls apart: every position carries its exit orders on the exchange, and a market-regime brake stops new entries when liquidations start to chain.</p>
  <p class="cta"><a class="button" href="#how">How it works</a> <a class="button ghost" href="/status">System status</a></p>
  <p class="small">Kraite is in private beta. Accounts are opened by invitation.</p>
</section>

<section class="features" id="how">
  <h2>How it works</h2>
  <div class="cols">
    <article><h3>Your account, your keys</h3><p>You connect a Binance futures account with an API key that can trade but cannot withdraw. Funds never leave your exchange account; Kraite only places and cancels orders on it. API secrets are encrypted at rest and never shown again.</p></article>
    <article><h3>Laddered entries</h3><p>A position does not go in at one price. Kraite places a ladder of limit orders (rungs) below or above the entry, so a deeper move buys at better prices instead of triggering a stop. The take-profit is re-anchored to the average entry each time a rung fills.</p></article>
    <article><h3>Exits live on the exchange</h3><p>Take-profit and stop-loss orders sit on Binance itself, not in our servers' memory. If Kraite's servers restart, lose their connection or go down for maintenance, the exchange still closes the position on its own.</p></article>
  </div>
</section>

<section class="features" id="safety">
  <h2>Built for bad days</h2>
  <div class="cols">
    <article><h3>A market-regime brake</h3><p>Kraite scores the market every hour, from calm to critical. When the score says a cascade is forming, the engine stops opening new positions and lets the existing ladders work. An operator can engage the brake by hand at any time.</p></article>
    <article><h3>Every event, in order</h3><p>Kraite listens to each account's private Binance stream. Fills, cancellations and liquidation notices are recorded the moment they arrive and applied to the account strictly in order, and a reconciliation pass compares the local picture with the exchange every few minutes.</p></article>
    <article><h3>Fresh prices or no trade</h3><p>Mark prices for every listed futures symbol stream in every second. A symbol whose price is more than 30 seconds old is left out of new entries, and the public status below turns amber as soon as prices fall more than a minute behind.</p></article>
  </div>
</section>

${status ? html`<section class="features" id="status">${status}</section>` : ''}

<section class="features">
  <h2>What Kraite is not</h2>
  <ul class="plain">
    <li>It is not a fund: there is nothing to deposit with us, and we never hold your money.</li>
    <li>It is not a signal group: orders are placed for you, with the same rules for every account.</li>
    <li>It is not risk-free: futures are leveraged, and a ladder can still end in a stop-loss. Trade only what you can afford to lose.</li>
  </ul>
</section>`;
}

export function privacyBody(): SafeHtml {
  return html`<article class="page narrow prose">
<h1>Privacy policy</h1>
<p class="small">This policy explains what Kraite stores about you, why, and for how long.</p>
<h2>What we store</h2>
<ul>
<li><strong>Account details</strong>: your e-mail address, a password hash (never the password), and your subscription state.</li>
<li><strong>Exchange credentials</strong>: the API key and secret you connect. They are encrypted at rest with AES-256-GCM and only decrypted inside the trading engine to sign requests to Binance. Nobody at Kraite can read them in our admin tools.</li>
<li><strong>Trading records</strong>: the positions and orders Kraite places for you, and the events your exchange account sends back (fills, cancellations, balance updates), so that we can manage positions and show you their history.</li>
<li><strong>Operational logs</strong>: technical logs of requests to our servers and to the exchange, used to run and secure the service. Secrets are removed from logs before they are written.</li>
</ul>
<h2>What we do not do</h2>
<ul>
<li>We do not sell or rent your data, and we do not use advertising trackers. This site sets no cookies.</li>
<li>We do not ask for withdrawal rights on your exchange account, and we cannot move your funds.</li>
</ul>
<h2>Who processes it</h2>
<p>Your data is stored on servers we operate. Orders and account queries go to Binance, which processes them under its own privacy policy. Transactional e-mails are sent through an e-mail delivery provider.</p>
<h2>How long we keep it</h2>
<p>Account and trading records are kept while your account is open and for as long as the law requires afterwards. Operational logs are kept for a few days to a few weeks. When you close your account, your exchange credentials are deleted immediately.</p>
<h2>Your rights</h2>
<p>You can ask for a copy of your data, its correction or its deletion by writing to the support address shown in your account. We answer within 30 days.</p>
</article>`;
}

export function termsBody(): SafeHtml {
  return html`<article class="page narrow prose">
<h1>Terms and conditions</h1>
<p class="notice">These terms are a working draft under legal review. They describe how the service works today; the reviewed version will replace them, and you will be told before it applies to you.</p>
<h2>The service</h2>
<p>Kraite is software that places, amends and cancels orders on your Binance USD-M futures account through the API key you provide. Kraite does not hold client funds and does not provide investment advice.</p>
<h2>Your responsibilities</h2>
<ul>
<li>You keep control of your exchange account and may revoke Kraite's API key at any time.</li>
<li>You give Kraite a key with trading permission only, and never withdrawal permission.</li>
<li>You decide how much capital your account holds. Leveraged futures can lose more quickly than spot trading; you accept that losses are possible, including the loss of the capital in the account.</li>
</ul>
<h2>Availability</h2>
<p>We run the service continuously but cannot guarantee it is never interrupted. Exits are placed as orders on the exchange so that positions stay protected while our systems are unavailable. Planned maintenance is kept short and announced on the status page.</p>
<h2>Subscription</h2>
<p>Access is billed as described in your account. You can stop at any time; open positions are then left to their exchange-side orders or can be closed by you on the exchange.</p>
<h2>Liability</h2>
<p>Kraite is provided as is. To the extent the law allows, Kraite is not liable for trading losses, for exchange outages, or for decisions the exchange makes about your account.</p>
</article>`;
}
